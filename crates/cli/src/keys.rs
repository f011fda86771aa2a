//! `sigil key`: keys Sigil holds without (or before) a certificate — create, list, CSR — and
//! a key with its certificate imported from a PKCS#12 file. The chain a CA issues for a CSR is
//! imported with `sigil cert import`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine;
use clap::{Args, Subcommand};
use sigil_api::keys::{ImportPkcs12Body, KeyCsrBody, NewKeyBody};

use crate::admin::{ProfileArg, one, read_secret, write_or_print};
use crate::exit;

/// Environment variable with the password of a PKCS#12 file to import.
const IMPORT_PASSWORD_ENV: &str = "SIGIL_IMPORT_PASSWORD";

/// `sigil key`.
#[derive(Args, Debug)]
pub(crate) struct KeyArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: KeyAction,
}

#[derive(Subcommand, Debug)]
enum KeyAction {
    /// Create a key without a certificate (then `sigil key csr`, the CA, `sigil cert import`).
    Create {
        /// rsa-2048, rsa-3072, rsa-4096, ec-p256 or ec-p384.
        #[arg(long)]
        algorithm: String,
        /// What the key is for: code-signing (default) or timestamping.
        #[arg(long)]
        purpose: Option<String>,
        /// Where the key is made and kept: software (default, sealed under the master key) or
        /// the name of an [[hsm]] of the server's configuration.
        #[arg(long)]
        backend: Option<String>,
    },
    /// List the keys Sigil holds, with the serials of their certificates.
    List,
    /// Make a PKCS#10 CSR signed by a held key, for a CA to issue a certificate from.
    Csr {
        /// The key id.
        key: String,
        /// Subject DN, e.g. "CN=Example Corp,O=Example Corp,C=DE".
        #[arg(long)]
        subject: String,
        /// Subject alternative name (repeat for several).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Write the CSR (PEM) here instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import a private key and its certificate from a PKCS#12 file. The password comes from
    /// --password-file, SIGIL_IMPORT_PASSWORD or a prompt.
    Import {
        /// The .p12 / .pfx file.
        file: PathBuf,
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// PEM file with the CA certificates (issuer first), when the file holds none.
        #[arg(long)]
        chain: Option<PathBuf>,
        /// What the certificate is for: code-signing (default) or timestamping.
        #[arg(long)]
        purpose: Option<String>,
        /// Where the key goes: software (default, sealed under the master key) or the name of
        /// an [[hsm]] (a sensitive, non-extractable token object).
        #[arg(long)]
        backend: Option<String>,
    },
}

pub(crate) async fn key(args: KeyArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        KeyAction::Create {
            algorithm,
            purpose,
            backend,
        } => {
            let body = NewKeyBody {
                algorithm,
                purpose,
                backend,
            };
            one(p, async |api| api.create_key(&body).await).await
        }
        KeyAction::List => one(p, async |api| api.list_keys().await).await,
        KeyAction::Csr {
            key,
            subject,
            sans,
            out,
        } => {
            let body = KeyCsrBody { subject, sans };
            let api = p.login().await?;
            let answer = api.key_csr(&key, &body).await;
            api.logout().await;
            write_or_print(out.as_deref(), &answer?.csr_pem)
        }
        KeyAction::Import {
            file,
            password_file,
            chain,
            purpose,
            backend,
        } => {
            let der =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let password = read_secret(
                password_file.as_deref(),
                IMPORT_PASSWORD_ENV,
                "PKCS#12 password: ",
            )?
            .ok_or_else(|| {
                exit::usage(format!(
                    "no PKCS#12 password: give --password-file or set {IMPORT_PASSWORD_ENV}"
                ))
            })?;
            let chain_pem = match chain {
                Some(chain) => Some(
                    std::fs::read_to_string(&chain)
                        .with_context(|| format!("cannot read {}", chain.display()))?,
                ),
                None => None,
            };
            // Wiped on drop: it holds the password.
            let body = ImportPkcs12Body {
                pkcs12_base64: base64::engine::general_purpose::STANDARD.encode(der),
                password: password.to_string(),
                chain_pem,
                purpose,
                backend,
            };
            one(p, async |api| api.import_pkcs12(&body).await).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        key: KeyArgs,
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "key",
            "csr",
            "0000",
            "--subject",
            "CN=a",
            "--san",
            "a.example",
            "--san",
            "b",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        match cli.key.action {
            KeyAction::Csr { sans, .. } => assert_eq!(sans, ["a.example", "b"]),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["key", "import", "a.p12", "--password-file", "pw"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(cli.key.action, KeyAction::Import { .. }));
        assert!(
            Cli::try_parse_from(["key", "create"]).is_err(),
            "--algorithm is required"
        );
    }
}
