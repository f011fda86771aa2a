//! Profile parsing and the order of the password sources.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::Path;

use sigil_client::profile::SecretSource;
use sigil_client::{ClientError, ErrorKind, Profile};
use zeroize::Zeroizing;

/// A stand-in environment and terminal.
struct Fake {
    vars: HashMap<String, String>,
    terminal: Option<String>,
}

impl SecretSource for Fake {
    fn var(&self, name: &str) -> Option<Zeroizing<String>> {
        self.vars.get(name).cloned().map(Zeroizing::new)
    }
    fn prompt(&self, _question: &str) -> Option<Zeroizing<String>> {
        self.terminal.clone().map(Zeroizing::new)
    }
}

fn fake(vars: &[(&str, &str)], terminal: Option<&str>) -> Fake {
    Fake {
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        terminal: terminal.map(str::to_owned),
    }
}

const PROFILE: &str = r#"
host_api = "127.0.0.1:9100"
https = "https://127.0.0.1:8443"
ca_certificate = "../ca/root.pem"
pkcs12 = "jenkins.p12"
pkcs12_password_file = "jenkins.p12.password"

[[identity]]
name = "jenkins"
password_file = "jenkins.password"

[[identity]]
name = "second"
password_env = "SECOND_PASSWORD"
"#;

#[test]
fn paths_are_relative_to_the_profile_and_defaults_apply() {
    let profile = Profile::parse(PROFILE, Path::new("/etc/sigil/clients/jenkins.toml")).unwrap();
    assert_eq!(profile.host_api.as_deref(), Some("127.0.0.1:9100"));
    assert_eq!(profile.server_name, "localhost");
    assert_eq!(
        profile.ca_certificate,
        Path::new("/etc/sigil/clients/../ca/root.pem")
    );
    assert_eq!(
        profile.pkcs12.as_deref(),
        Some(Path::new("/etc/sigil/clients/jenkins.p12"))
    );
    assert_eq!(profile.identities.len(), 2);
    assert_eq!(profile.identities[0].password_env, "SIGIL_PASSWORD");
    assert_eq!(
        profile.identities[0].password_file.as_deref(),
        Some(Path::new("/etc/sigil/clients/jenkins.password"))
    );
    assert_eq!(profile.identities[1].password_env, "SECOND_PASSWORD");
    assert_eq!(profile.identities[1].password_file, None);
}

#[test]
fn bad_profiles_are_refused_with_the_file_named() {
    for (text, needle) in [
        ("host_api = 1", "not a valid client profile"),
        ("ca_certificate = \"ca.pem\"", "neither host_api nor https"),
        (
            "host_api = \"h:1\"\nca_certificate = \"ca.pem\"\ntypo = 1",
            "unknown field",
        ),
        (
            "host_api = \"h:1\"\nca_certificate = \"c\"\n[[identity]]\nname = \"a\"\n[[identity]]\nname = \"a\"",
            "listed twice",
        ),
    ] {
        let err = Profile::parse(text, Path::new("/x/p.toml")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let message = err.to_string();
        assert!(message.contains("/x/p.toml"), "{message}");
        assert!(message.contains(needle), "{message}");
    }
    let err = Profile::load(Path::new("/nonexistent/p.toml")).unwrap_err();
    assert!(matches!(err, ClientError::Profile { .. }), "{err}");
}

#[test]
fn password_sources_are_tried_env_then_file_then_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(dir.path().join("jenkins.password"), "from-file\n").unwrap();
    let profile = Profile::parse(PROFILE, &path).unwrap();
    let jenkins = &profile.identities[0];
    let second = &profile.identities[1];

    // 1. The variable wins over the file and the terminal.
    let env = fake(&[("SIGIL_PASSWORD", "from-env")], Some("typed"));
    assert_eq!(
        profile.identity_password(jenkins, &env).unwrap().as_str(),
        "from-env"
    );
    // 2. The file (without its line break) when the variable is unset.
    let none = fake(&[], Some("typed"));
    assert_eq!(
        profile.identity_password(jenkins, &none).unwrap().as_str(),
        "from-file"
    );
    // 3. The terminal when there is neither.
    assert_eq!(
        profile.identity_password(second, &none).unwrap().as_str(),
        "typed"
    );
    // 4. Else an error naming the variable to set.
    let err = profile
        .identity_password(second, &fake(&[], None))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("SECOND_PASSWORD"), "{err}");
    // A variable named by another identity is not used.
    let other = fake(&[("SIGIL_PASSWORD", "x")], None);
    assert!(profile.identity_password(second, &other).is_err());
    // A password file that cannot be read is an error, not a fallback to the terminal.
    std::fs::remove_file(dir.path().join("jenkins.password")).unwrap();
    let err = profile.identity_password(jenkins, &none).unwrap_err();
    assert!(err.to_string().contains("jenkins.password"), "{err}");
}

#[test]
fn pkcs12_password_file_then_env_then_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(dir.path().join("jenkins.p12.password"), "p12-file\r\n").unwrap();
    let profile = Profile::parse(PROFILE, &path).unwrap();
    let env = fake(&[("SIGIL_P12_PASSWORD", "p12-env")], Some("typed"));
    assert_eq!(profile.pkcs12_password(&env).unwrap().as_str(), "p12-file");

    let without_file = Profile::parse(
        "host_api = \"h:1\"\nca_certificate = \"c\"\npkcs12 = \"x.p12\"",
        &path,
    )
    .unwrap();
    assert_eq!(
        without_file.pkcs12_password(&env).unwrap().as_str(),
        "p12-env"
    );
    assert_eq!(
        without_file
            .pkcs12_password(&fake(&[], Some("typed")))
            .unwrap()
            .as_str(),
        "typed"
    );
    let err = without_file.pkcs12_password(&fake(&[], None)).unwrap_err();
    assert!(err.to_string().contains("SIGIL_P12_PASSWORD"), "{err}");
}
