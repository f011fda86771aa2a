//! The Host API connection against the real server (`sigil-testkit`'s quickstart deployment,
//! ephemeral ports).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sigil_client::profile::SecretSource;
use sigil_client::sign::{NoProgress, prepare_jobs, sign_jobs};
use sigil_client::{
    ClientError, Connection, ErrorKind, Format, Job, JobOutcome, Profile, SignOptions,
};
use sigil_proto::{
    Command, ErrorCode, HashAlgorithm, Metadata, Outcome, Request, Response, Upload,
};
use sigil_testkit::world::{World, world};
use zeroize::Zeroizing;

/// No environment, no terminal: only the profile's files.
struct FilesOnly;
impl SecretSource for FilesOnly {
    fn var(&self, _: &str) -> Option<Zeroizing<String>> {
        None
    }
    fn prompt(&self, _: &str) -> Option<Zeroizing<String>> {
        None
    }
}

fn upload(policy: &str, digest: Vec<u8>) -> Request {
    Request::UploadHash(Upload {
        policy: policy.into(),
        hash: HashAlgorithm::Sha256,
        digest,
        metadata: Metadata::default(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_calls_pipelining_and_errors_over_one_connection() {
    // `_dir` keeps the deployment's directory (the server's data) alive until the end.
    let World {
        dir: _dir,
        server,
        jenkins,
        ..
    } = world().await;
    let profile = Profile::load(&jenkins).unwrap();

    let mut conn = Connection::connect(&profile, &FilesOnly).await.unwrap();
    assert!(!conn.echo().await.unwrap().is_empty());
    conn.time().await.unwrap();
    // Before the login: refused with the server's code, classed as a refusal.
    let err = conn.list_policies().await.unwrap_err();
    assert_eq!(err.server_code(), Some(&ErrorCode::NotLoggedIn), "{err}");
    assert_eq!(err.kind(), ErrorKind::Refused);

    assert_eq!(conn.login_profile(&profile, &FilesOnly).await.unwrap(), 0);
    let (commands, permissions) = conn.capabilities().await.unwrap();
    assert!(commands.contains(&Command::UploadHash));
    assert!(permissions.iter().any(|p| p == "signing:request"));
    let mut policies = conn.list_policies().await.unwrap();
    policies.sort();
    assert_eq!(policies, ["release", "release-approved"]);
    let info = conn.get_policy("release").await.unwrap();
    assert_eq!(info.approvals_required, 0);
    assert_eq!(info.key_algorithm, sigil_keys::KeyAlgorithm::Rsa3072);
    let err = conn.get_policy("nope").await.unwrap_err();
    assert_eq!(err.server_code(), Some(&ErrorCode::PolicyNotFound), "{err}");

    // 300 uploads pipelined, one refused in the middle: answers in order.
    let mut requests: Vec<Request> = (0u8..=255)
        .chain(0..44)
        .map(|i| upload("release", vec![i; 32]))
        .collect();
    requests[150] = upload("nope", vec![1; 32]);
    let answers = conn.pipeline(&requests).await.unwrap();
    assert_eq!(answers.len(), 300);
    for (i, answer) in answers.iter().enumerate() {
        match (i, answer) {
            (150, Response::Failure(f)) => assert_eq!(f.code, ErrorCode::PolicyNotFound),
            (_, Response::UploadHash(status)) => {
                assert!(
                    matches!(status.outcome, Outcome::Signed { .. }),
                    "{i}: {status:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    // The connection is still usable, and retrieve gives the same signature.
    let Response::UploadHash(first) = &answers[0] else {
        panic!()
    };
    let again = conn.retrieve(Format::Hash, first.id.clone()).await.unwrap();
    assert_eq!(again.outcome, first.outcome);
    // The wrong retrieve command for the format is "not found".
    let err = conn
        .retrieve(Format::Jar, first.id.clone())
        .await
        .unwrap_err();
    assert_eq!(
        err.server_code(),
        Some(&ErrorCode::RequestNotFound),
        "{err}"
    );

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_jobs_writes_results_and_reports_refusals_per_file() {
    let World {
        dir,
        server,
        jenkins,
        ..
    } = world().await;
    let profile = Profile::load(&jenkins).unwrap();
    let files: Vec<_> = (0..3)
        .map(|i| {
            let f = dir.path().join(format!("f{i}.txt"));
            std::fs::write(&f, format!("content {i}\n")).unwrap();
            f
        })
        .collect();
    let jobs: Vec<Job> = files
        .iter()
        .map(|f| Job::plan(f, sigil_client::FormatChoice::Auto).unwrap())
        .collect();
    let options = SignOptions::new("release");
    let (prepared, failed) = prepare_jobs(jobs.clone(), &options);
    assert!(failed.is_empty());
    let mut conn = Connection::connect(&profile, &FilesOnly).await.unwrap();
    conn.login_profile(&profile, &FilesOnly).await.unwrap();
    let results = sign_jobs(&mut conn, prepared, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    for (r, f) in results.iter().zip(&files) {
        assert_eq!(&r.path, f);
        match &r.outcome {
            JobOutcome::Signed { output, .. } => {
                assert_eq!(output, &sigil_client::sign::sig_path(f));
                assert_eq!(std::fs::read(output).unwrap().len(), 384);
            }
            other => panic!("{other:?}"),
        }
    }

    // An unknown policy: the file is refused, nothing written.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "x").unwrap();
    let mut refused_options = SignOptions::new("missing-policy");
    refused_options.wait = std::time::Duration::from_secs(1);
    let (prepared, _) = prepare_jobs(
        vec![Job::plan(&other, sigil_client::FormatChoice::Auto).unwrap()],
        &refused_options,
    );
    let results = sign_jobs(&mut conn, prepared, &refused_options, &NoProgress)
        .await
        .unwrap();
    assert!(
        matches!(&results[0].outcome, JobOutcome::Refused { code, .. } if *code == ErrorCode::PolicyNotFound),
        "{:?}",
        results[0]
    );
    assert!(!sigil_client::sign::sig_path(&other).exists());

    // A client certificate the server does not trust cannot even connect.
    let mut wrong_ca = profile.clone();
    wrong_ca.ca_certificate = dir.path().join("wrong-ca.pem");
    std::fs::write(
        &wrong_ca.ca_certificate,
        std::fs::read(dir.path().join("data/ca/root.pem")).unwrap(),
    )
    .unwrap();
    wrong_ca.server_name = "not-the-server.example".into();
    let err = Connection::connect(&wrong_ca, &FilesOnly)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Connection);

    server.shutdown().await;
}
