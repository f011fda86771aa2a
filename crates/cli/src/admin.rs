//! Subcommands over the HTTPS API (requests and administration), and the offline audit check.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sigil_api::admin::{CommandBody, SettingsBody};
use sigil_api::identities::{ApiKeyBody, NewIdentityBody, PasswordBody, UpdateIdentityBody};
use sigil_api::keys::ImportChainBody;
use sigil_api::pki::{
    ChainBody, CsrBody, ExportBody, IssueBody, NewCaBody, RevokeBody, SOFTWARE_BACKEND,
};
use sigil_api::requests::CommentBody;
use sigil_client::Profile;
use sigil_client::https::{Client, Verbatim, segment};
use sigil_client::profile::ProcessSecrets;
use zeroize::Zeroizing;

use crate::exit;

/// The profile whose identities log in (`--profile`, or `SIGIL_PROFILE`).
#[derive(Args, Debug, Clone)]
pub(crate) struct ProfileArg {
    /// Client profile (TOML) whose [[identity]] entries log in on one session.
    #[arg(long, short = 'p', env = "SIGIL_PROFILE", global = true)]
    profile: Option<PathBuf>,
}

impl ProfileArg {
    pub(crate) async fn login(&self) -> Result<Client> {
        let path = self
            .profile
            .as_deref()
            .ok_or_else(|| exit::usage("give --profile FILE (or set SIGIL_PROFILE)"))?;
        let profile = Profile::load(path)?;
        let client = Client::login(&profile, &ProcessSecrets).await?;
        let remaining = client.logins_still_required();
        if remaining > 0 {
            eprintln!(
                "note: the session still needs {remaining} more login(s) for some role; add \
                 another [[identity]] holding it to the profile"
            );
        }
        Ok(client)
    }
}

/// Prints an answer as pretty JSON (nothing for an empty answer). Through `serde_json`'s
/// value, whose objects sort their keys: the CLI's output does not depend on field order.
fn print(answer: &impl Serialize) -> Result<u8> {
    let value = serde_json::to_value(answer)?;
    if !value.is_null() {
        out!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(exit::OK)
}

/// Runs one call on a fresh session and prints the answer.
pub(crate) async fn one<T: Serialize, E>(
    profile: &ProfileArg,
    call: impl AsyncFnOnce(&Client) -> Result<T, E>,
) -> Result<u8>
where
    anyhow::Error: From<E>,
{
    let api = profile.login().await?;
    let answer = call(&api).await;
    api.logout().await;
    print(&answer?)
}

/// Reads a JSON body from a file (`-`: standard input). Kept as the user wrote it (not read
/// into the body's type): the server checks it and names what is wrong, as it always has.
fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    serde_json::from_str(&text)
        .map_err(|e| exit::usage(format!("{} is not JSON: {e}", path.display())))
}

/// Reads a secret: from `file` when given, else from the environment variable `env`, else a
/// prompt on a terminal; `None` when none applies and `optional`.
pub(crate) fn read_secret(
    file: Option<&Path>,
    env: &str,
    prompt: &str,
) -> Result<Option<Zeroizing<String>>> {
    if let Some(file) = file {
        return Ok(Some(sigil_client::profile::read_secret_file(file)?));
    }
    if let Ok(value) = std::env::var(env) {
        return Ok(Some(Zeroizing::new(value)));
    }
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let value = rpassword::prompt_password(prompt).context("cannot read the password")?;
        if !value.is_empty() {
            return Ok(Some(Zeroizing::new(value)));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Requests

/// `sigil request`.
#[derive(Args, Debug)]
pub(crate) struct RequestArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: RequestAction,
}

/// The filters of `request list` and `release list`.
#[derive(Args, Debug)]
pub(crate) struct ListFilter {
    /// Only this state: pending, approved, signed, denied, expired, failed.
    #[arg(long)]
    pub(crate) state: Option<String>,
    /// Only this policy.
    #[arg(long)]
    pub(crate) policy: Option<String>,
    /// Only this requester.
    #[arg(long)]
    pub(crate) requester: Option<String>,
    /// At most this many (default 100).
    #[arg(long)]
    pub(crate) limit: Option<u32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `request approve` and `release approve`.
#[derive(Args, Debug)]
pub(crate) struct ApproveArgs {
    pub(crate) id: String,
    /// Comment recorded with the approval.
    #[arg(long)]
    pub(crate) comment: Option<String>,
    /// The identity of the session that approves (needed when several could).
    #[arg(long = "as", value_name = "IDENTITY")]
    pub(crate) as_identity: Option<String>,
}

/// `request deny` and `release deny`: the comment is the reason the requester sees.
#[derive(Args, Debug)]
pub(crate) struct DenyArgs {
    pub(crate) id: String,
    /// The reason (required).
    #[arg(long)]
    pub(crate) comment: String,
    /// The identity of the session that denies (needed when several could).
    #[arg(long = "as", value_name = "IDENTITY")]
    pub(crate) as_identity: Option<String>,
}

#[derive(Subcommand, Debug)]
enum RequestAction {
    /// List signing requests (newest first).
    List(ListFilter),
    /// Show one request.
    Show { id: String },
    /// Approve a request (signed at once when the quorum is reached).
    Approve(ApproveArgs),
    /// Deny a request; the comment is the reason the requester sees.
    Deny(DenyArgs),
}

pub(crate) async fn request(args: RequestArgs) -> Result<u8> {
    match args.action {
        RequestAction::List(ListFilter {
            state,
            policy,
            requester,
            limit,
            json,
        }) => {
            let query = query_path("", state, policy, requester, limit);
            let api = args.profile.login().await?;
            let answer = api.list_requests(&query).await;
            api.logout().await;
            let answer = answer?;
            if json {
                return print(&answer);
            }
            out!(
                "{:<36} {:<9} {:<18} {:<13} {:<12} {:>9}  {:<36}  FILE",
                "ID",
                "STATE",
                "POLICY",
                "FORMAT",
                "REQUESTER",
                "APPROVALS",
                "RELEASE"
            );
            for r in answer.iter() {
                let approvals = format!("{}/{}", r.approvals.len(), r.approvals_required);
                let file = r.metadata.file_name.as_deref().unwrap_or("");
                out!(
                    "{:<36} {:<9} {:<18} {:<13} {:<12} {:>9}  {:<36}  {file}",
                    r.id,
                    r.state,
                    r.policy,
                    r.format,
                    r.requester,
                    approvals,
                    r.release_id.as_deref().unwrap_or("-")
                );
            }
            Ok(exit::OK)
        }
        RequestAction::Show { id } => {
            one(&args.profile, async |api| api.get_request(&id).await).await
        }
        RequestAction::Approve(ApproveArgs {
            id,
            comment,
            as_identity,
        }) => {
            let body = acting_body(comment.unwrap_or_default(), as_identity);
            one(&args.profile, async |api| {
                api.approve_request(&id, &body).await
            })
            .await
        }
        RequestAction::Deny(DenyArgs {
            id,
            comment,
            as_identity,
        }) => {
            let body = acting_body(comment, as_identity);
            one(&args.profile, async |api| {
                api.deny_request(&id, &body).await
            })
            .await
        }
    }
}

/// A list path with its filters as query parameters.
pub(crate) fn query_path(
    base: &str,
    state: Option<String>,
    policy: Option<String>,
    requester: Option<String>,
    limit: Option<u32>,
) -> String {
    let mut query = Vec::new();
    for (k, v) in [
        ("state", state),
        ("policy", policy),
        ("requester", requester),
    ] {
        if let Some(v) = v {
            query.push(format!("{k}={}", segment(&v)));
        }
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

/// The approve/deny body: the comment and, when given, the identity that acts (`--as`).
pub(crate) fn acting_body(comment: String, as_identity: Option<String>) -> CommentBody {
    CommentBody {
        comment,
        as_identity,
    }
}

// ---------------------------------------------------------------------------------------------
// Generic resources (roles, groups, policies)

/// `sigil role|group|policy`: records as JSON.
#[derive(Args, Debug)]
pub(crate) struct ResourceArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: ResourceAction,
}

#[derive(Subcommand, Debug)]
enum ResourceAction {
    /// List them.
    List,
    /// Show one.
    Show { name: String },
    /// Create one from a JSON body (the fields are in docs/https-api.md).
    Create {
        /// JSON file with the record (`-`: standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Replace one from a JSON body.
    Update {
        name: String,
        /// JSON file with the new record (`-`: standard input).
        #[arg(long)]
        file: PathBuf,
    },
    /// Delete one.
    Delete { name: String },
}

/// `sigil role|group|policy`: the routes under `/{kind}`, whose records read as `View`.
pub(crate) async fn resource<View: DeserializeOwned>(kind: &str, args: ResourceArgs) -> Result<u8> {
    let base = format!("/{kind}");
    match args.action {
        ResourceAction::List => {
            one(&args.profile, async |api| {
                api.get::<Vec<Verbatim<View>>>(&base).await
            })
            .await
        }
        ResourceAction::Show { name } => {
            one(&args.profile, async |api| {
                api.get::<Verbatim<View>>(&format!("{base}/{}", segment(&name)))
                    .await
            })
            .await
        }
        ResourceAction::Create { file } => {
            let body = read_json(&file)?;
            one(&args.profile, async |api| {
                api.post::<_, Verbatim<View>>(&base, &body).await
            })
            .await
        }
        ResourceAction::Update { name, file } => {
            let body = read_json(&file)?;
            one(&args.profile, async |api| {
                api.put::<_, Verbatim<View>>(&format!("{base}/{}", segment(&name)), &body)
                    .await
            })
            .await
        }
        ResourceAction::Delete { name } => {
            one(&args.profile, async |api| {
                api.delete(&format!("{base}/{}", segment(&name))).await
            })
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Identities

/// `sigil identity`.
#[derive(Args, Debug)]
pub(crate) struct IdentityArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: IdentityAction,
}

#[derive(Subcommand, Debug)]
enum IdentityAction {
    /// List identities.
    List,
    /// Show one identity.
    Show { name: String },
    /// Create an identity; without --password-file (or SIGIL_NEW_PASSWORD) the server
    /// generates the password and it is printed once.
    Create {
        name: String,
        /// person or application.
        #[arg(long, default_value = "person")]
        kind: String,
        /// Role to grant (repeat for several).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Bind the identity to a TLS client certificate whose CN is its name.
        #[arg(long)]
        require_client_certificate: bool,
        /// File holding the password to set.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Change roles, enable/disable, certificate binding.
    Update {
        name: String,
        /// The new roles (replace the old ones; repeat for several).
        #[arg(long = "role")]
        roles: Option<Vec<String>>,
        /// Enable (true) or disable (false).
        #[arg(long)]
        enabled: Option<bool>,
        /// Require a client certificate whose CN is the name.
        #[arg(long)]
        require_client_certificate: Option<bool>,
    },
    /// Delete an identity.
    Delete { name: String },
    /// Clear the lock after too many failed logins. With --data: break-glass, on the data
    /// directory of a stopped server, authorised by the master key (no login needed).
    Unlock {
        name: String,
        /// Break-glass: the data directory of the stopped server.
        #[arg(long)]
        data: Option<PathBuf>,
        /// With --data: a file holding one key component (SKC1-…); repeat M times. Without
        /// it, a component-sealed deployment's components are asked for at a no-echo prompt.
        #[arg(long = "component-file", requires = "data")]
        component_files: Vec<PathBuf>,
    },
    /// Set a new password (from --password-file or SIGIL_NEW_PASSWORD), or have the server
    /// generate one.
    Password {
        name: String,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Create an API key (the token is printed once).
    ApiKey {
        name: String,
        #[arg(long)]
        label: String,
    },
}

/// Environment variable with a password to set (`identity create`, `identity password`).
const NEW_PASSWORD_ENV: &str = "SIGIL_NEW_PASSWORD";

pub(crate) async fn identity(args: IdentityArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        IdentityAction::List => one(p, async |api| api.list_identities().await).await,
        IdentityAction::Show { name } => one(p, async |api| api.get_identity(&name).await).await,
        IdentityAction::Create {
            name,
            kind,
            roles,
            require_client_certificate,
            password_file,
        } => {
            let body = NewIdentityBody {
                name,
                kind,
                roles,
                password: new_password(password_file.as_deref())?.map(|pw| pw.to_string()),
                require_client_certificate,
            };
            one(p, async |api| api.create_identity(&body).await).await
        }
        IdentityAction::Update {
            name,
            roles,
            enabled,
            require_client_certificate,
        } => {
            let body = UpdateIdentityBody {
                roles,
                enabled,
                require_client_certificate,
            };
            one(p, async |api| api.update_identity(&name, &body).await).await
        }
        IdentityAction::Delete { name } => {
            one(p, async |api| api.delete_identity(&name).await).await
        }
        IdentityAction::Unlock {
            name,
            data: Some(data),
            component_files,
        } => crate::serve::offline_unlock(&name, &data, &component_files).await,
        IdentityAction::Unlock { name, .. } => {
            one(p, async |api| api.unlock_identity(&name).await).await
        }
        IdentityAction::Password {
            name,
            password_file,
        } => {
            let body = PasswordBody {
                password: new_password(password_file.as_deref())?.map(|pw| pw.to_string()),
            };
            one(p, async |api| api.set_password(&name, &body).await).await
        }
        IdentityAction::ApiKey { name, label } => {
            let body = ApiKeyBody { label };
            one(p, async |api| api.create_api_key(&name, &body).await).await
        }
    }
}

/// A password to set: `--password-file`, else `SIGIL_NEW_PASSWORD`; `None`: let the server
/// generate one.
fn new_password(file: Option<&Path>) -> Result<Option<Zeroizing<String>>> {
    if let Some(file) = file {
        return Ok(Some(sigil_client::profile::read_secret_file(file)?));
    }
    Ok(std::env::var(NEW_PASSWORD_ENV).ok().map(Zeroizing::new))
}

// ---------------------------------------------------------------------------------------------
// CAs and certificates

/// `sigil ca`.
#[derive(Args, Debug)]
pub(crate) struct CaArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: CaAction,
}

#[derive(Subcommand, Debug)]
enum CaAction {
    /// List CAs.
    List,
    /// Show one CA.
    Show { name: String },
    /// Create a CA (a root, or an intermediate with --parent).
    Create {
        name: String,
        /// rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519.
        #[arg(long)]
        key_algorithm: String,
        /// Subject, e.g. "CN=Example Code Signing CA,O=Example".
        #[arg(long)]
        subject: String,
        /// Validity in days [default: 3650 for a root; for an intermediate 3650 or up to the
        /// parent's expiry, whichever is sooner].
        #[arg(long)]
        validity_days: Option<u32>,
        /// Parent CA (intermediate).
        #[arg(long)]
        parent: Option<String>,
        /// Path length constraint (0-255).
        #[arg(long)]
        path_len: Option<u8>,
        /// Where the CA key is generated and held: `software` (sealed under the master key)
        /// or the name of an [[hsm]] in the server's sigil.toml.
        #[arg(long, default_value = "software")]
        key_backend: String,
    },
    /// A freshly signed CRL (PEM), printed or written to --out.
    Crl {
        name: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub(crate) async fn ca(args: CaArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        CaAction::List => one(p, async |api| api.list_cas().await).await,
        CaAction::Show { name } => one(p, async |api| api.get_ca(&name).await).await,
        CaAction::Create {
            name,
            key_algorithm,
            subject,
            validity_days,
            parent,
            path_len,
            key_backend,
        } => {
            one(p, async |api| {
                let validity_days = match (validity_days, &parent) {
                    (Some(days), _) => days,
                    (None, None) => DEFAULT_CA_VALIDITY_DAYS,
                    (None, Some(parent)) => intermediate_validity_days(api, parent).await?,
                };
                let body = NewCaBody {
                    name,
                    key_algorithm,
                    subject,
                    validity_days,
                    parent,
                    path_len,
                    key_backend,
                };
                Ok::<_, anyhow::Error>(api.create_ca(&body).await?)
            })
            .await
        }
        CaAction::Crl { name, out } => {
            let api = p.login().await?;
            let answer = api.ca_crl(&name).await;
            api.logout().await;
            write_or_print(out.as_deref(), &answer?.crl_pem)
        }
    }
}

/// Default validity of a new CA, in days (about ten years).
const DEFAULT_CA_VALIDITY_DAYS: u32 = 3650;

/// The default validity of an intermediate: [`DEFAULT_CA_VALIDITY_DAYS`], shortened to end
/// before its parent does (a CA cannot outlive its issuer).
async fn intermediate_validity_days(api: &Client, parent: &str) -> Result<u32> {
    let ca = api.get_ca(parent).await?;
    let not_after = ca
        .not_after
        .as_deref()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .ok_or_else(|| anyhow::anyhow!("the server did not say when CA {parent} expires"))?;
    let left = (not_after - time::OffsetDateTime::now_utc()).whole_days();
    let days = u32::try_from(left)
        .unwrap_or(0)
        .min(DEFAULT_CA_VALIDITY_DAYS);
    if days == 0 {
        return Err(exit::usage(format!(
            "CA {parent} expires in less than a day ({not_after}): renew it before issuing an \
             intermediate"
        )));
    }
    Ok(days)
}

pub(crate) fn write_or_print(out: Option<&Path>, text: &str) -> Result<u8> {
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => out!("{}", text.trim_end()),
    }
    Ok(exit::OK)
}

/// `sigil cert`.
#[derive(Args, Debug)]
pub(crate) struct CertArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: CertAction,
}

#[derive(Subcommand, Debug)]
enum CertAction {
    /// List certificates (of one issuer with --issuer).
    List {
        #[arg(long)]
        issuer: Option<String>,
    },
    /// Show one certificate; --out writes its chain (PEM).
    Show {
        serial: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Issue a certificate from a CSR (--csr) or with a key Sigil generates and seals
    /// (--key-algorithm).
    Issue {
        #[arg(long)]
        issuer: String,
        /// Certificate profile, e.g. code-signing, tls-server, tls-client.
        #[arg(long)]
        profile_name: String,
        #[arg(long)]
        subject: String,
        /// Subject alternative name (repeat for several).
        #[arg(long = "san")]
        sans: Vec<String>,
        #[arg(long, default_value_t = 365)]
        validity_days: u32,
        /// PEM CSR file.
        #[arg(long, conflicts_with = "key_algorithm")]
        csr: Option<PathBuf>,
        /// Generate the key in Sigil.
        #[arg(long)]
        key_algorithm: Option<String>,
        /// With --key-algorithm: where the key is generated and held, `software` (sealed
        /// under the master key) or the name of an [[hsm]] in the server's sigil.toml.
        #[arg(long, default_value = "software", requires = "key_algorithm")]
        key_backend: String,
        /// Write the certificate chain (PEM) here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import the chain (PEM, leaf first) another CA issued for a key Sigil holds (from
    /// `sigil key csr`); refused unless it is for that key, links, carries the code-signing
    /// extended key usage and is valid now.
    Import {
        /// The held key (its id from `sigil key create` or `sigil key list`).
        #[arg(long)]
        key: String,
        /// PEM file: the leaf certificate, then its issuers.
        #[arg(long)]
        chain: PathBuf,
        /// What the certificate is for: code-signing (default) or timestamping.
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Revoke a certificate.
    Revoke {
        serial: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Export a certificate and its Sigil-held key as PKCS#12 (setting-gated). The
    /// password comes from --password-file, SIGIL_EXPORT_PASSWORD or a prompt.
    Export {
        serial: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

pub(crate) async fn cert(args: CertArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        CertAction::List { issuer } => {
            one(p, async |api| {
                api.list_certificates(issuer.as_deref()).await
            })
            .await
        }
        CertAction::Show { serial, out } => {
            let api = p.login().await?;
            let answer = api.get_certificate(&serial).await;
            api.logout().await;
            let answer = answer?;
            if let Some(out) = out {
                let chain = answer.chain_pem.as_deref().unwrap_or_default();
                write_or_print(Some(&out), chain)?;
            }
            print(&answer)
        }
        CertAction::Issue {
            issuer,
            profile_name,
            subject,
            sans,
            validity_days,
            csr,
            key_algorithm,
            key_backend,
            out,
        } => {
            let csr_pem = match csr {
                Some(csr) => Some(
                    std::fs::read_to_string(&csr)
                        .with_context(|| format!("cannot read {}", csr.display()))?,
                ),
                None => None,
            };
            let body = IssueBody {
                issuer,
                profile: profile_name,
                subject: Some(subject),
                sans,
                validity_days,
                csr_pem,
                // The backend only matters for a key Sigil generates.
                key_backend: match key_algorithm {
                    Some(_) => key_backend,
                    None => SOFTWARE_BACKEND.to_owned(),
                },
                key_algorithm,
            };
            let api = p.login().await?;
            let answer = api.issue_certificate(&body).await;
            api.logout().await;
            let answer = answer?;
            if let Some(out) = out {
                let chain = answer.chain_pem.as_deref().unwrap_or_default();
                write_or_print(Some(&out), chain)?;
            }
            print(&answer)
        }
        CertAction::Import {
            key,
            chain,
            purpose,
        } => {
            let pem = std::fs::read_to_string(&chain)
                .with_context(|| format!("cannot read {}", chain.display()))?;
            let body = ImportChainBody {
                chain_pem: pem,
                purpose,
            };
            one(p, async |api| api.import_chain(&key, &body).await).await
        }
        CertAction::Revoke { serial, reason } => {
            let body = RevokeBody { reason };
            one(p, async |api| api.revoke_certificate(&serial, &body).await).await
        }
        CertAction::Export {
            serial,
            out,
            password_file,
        } => {
            let password = read_secret(
                password_file.as_deref(),
                "SIGIL_EXPORT_PASSWORD",
                "PKCS#12 export password: ",
            )?
            .ok_or_else(|| {
                exit::usage("no export password: give --password-file or set SIGIL_EXPORT_PASSWORD")
            })?;
            let body = ExportBody {
                password: password.to_string(),
            };
            let api = p.login().await?;
            let answer = api.export_certificate(&serial, &body).await;
            api.logout().await;
            let der = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(answer?.pkcs12_base64.trim())
                    .context("the server's PKCS#12 is not base64")?,
            );
            std::fs::write(&out, der).with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!("wrote {}", out.display());
            Ok(exit::OK)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands and settings

/// `sigil command`.
#[derive(Args, Debug)]
pub(crate) struct CommandArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: CommandAction,
}

#[derive(Subcommand, Debug)]
enum CommandAction {
    /// List the Host API commands and whether they are enabled.
    List,
    /// Enable a Host API command (e.g. RAUO).
    Enable { code: String },
    /// Disable a Host API command.
    Disable { code: String },
}

pub(crate) async fn command(args: CommandArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        CommandAction::List => one(p, async |api| api.list_commands().await).await,
        CommandAction::Enable { code } => set_command(p, &code, true).await,
        CommandAction::Disable { code } => set_command(p, &code, false).await,
    }
}

async fn set_command(p: &ProfileArg, code: &str, enabled: bool) -> Result<u8> {
    let body = CommandBody { enabled };
    one(p, async |api| api.set_command(code, &body).await).await
}

/// `sigil settings`.
#[derive(Args, Debug)]
pub(crate) struct SettingsArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: SettingsAction,
}

#[derive(Subcommand, Debug)]
enum SettingsAction {
    /// Show the settings.
    Show,
    /// Change settings.
    Set {
        /// Allow exporting a Sigil-held key as PKCS#12.
        #[arg(long)]
        allow_export_with_password: Option<bool>,
        /// Failed logins before an identity is locked (1-100).
        #[arg(long)]
        lockout_threshold: Option<u32>,
        /// Serial (hex) of the timestamping certificate that signs RFC 3161 time-stamps at
        /// POST /api/v1/timestamp (its key must be held by Sigil).
        #[arg(long, value_name = "SERIAL")]
        timestamp_certificate: Option<String>,
        /// Disable the time-stamping authority.
        #[arg(long, conflicts_with = "timestamp_certificate")]
        no_timestamp_certificate: bool,
    },
}

pub(crate) async fn settings(args: SettingsArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        SettingsAction::Show => one(p, async |api| api.get_settings().await).await,
        SettingsAction::Set {
            allow_export_with_password,
            lockout_threshold,
            timestamp_certificate,
            no_timestamp_certificate,
        } => {
            let body = SettingsBody {
                allow_export_with_password,
                lockout_threshold,
                // The API reads an empty serial as "disable the TSA".
                timestamp_certificate: if no_timestamp_certificate {
                    Some(String::new())
                } else {
                    timestamp_certificate
                },
            };
            if body.allow_export_with_password.is_none()
                && body.lockout_threshold.is_none()
                && body.timestamp_certificate.is_none()
            {
                return Err(exit::usage(
                    "nothing to set: give --allow-export-with-password, --lockout-threshold, --timestamp-certificate or --no-timestamp-certificate",
                ));
            }
            one(p, async |api| api.update_settings(&body).await).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Audit

/// `sigil audit`.
#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: AuditAction,
}

#[derive(Subcommand, Debug)]
enum AuditAction {
    /// List audit events.
    List {
        /// First sequence number (default 1).
        #[arg(long)]
        from: Option<u64>,
        /// At most this many (default 100, at most 1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Write events as JSON lines (to --out, or standard output): through the server
    /// (--profile), or offline from the database of a data directory (--data DIR).
    Export {
        /// First sequence number (default 1).
        #[arg(long)]
        from: Option<u64>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Data directory (offline export).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Verify the hash chain: through the server (--profile), or offline on the
    /// database of a data directory (--data DIR, the server may be stopped).
    Verify {
        /// Data directory (offline check).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

pub(crate) async fn audit(args: AuditArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        AuditAction::List { from, limit } => {
            let (from, limit) = (from.unwrap_or(1), limit.unwrap_or(100));
            one(p, async |api| api.read_audit(from, limit).await).await
        }
        AuditAction::Export { from, out, data } => export(p, from.unwrap_or(1), out, data).await,
        AuditAction::Verify { data: Some(data) } => verify_offline(&data).await,
        AuditAction::Verify { data: None } => {
            let api = p.login().await?;
            let answer = api.verify_audit().await;
            api.logout().await;
            let answer = answer?;
            print(&answer)?;
            if answer.ok {
                Ok(exit::OK)
            } else {
                Err(exit::fail(
                    exit::OTHER,
                    "the audit chain is broken (see `break`)",
                ))
            }
        }
    }
}

/// Page size of an audit export.
const AUDIT_PAGE: u32 = 1000;

async fn export(
    p: &ProfileArg,
    from: u64,
    out: Option<PathBuf>,
    data: Option<PathBuf>,
) -> Result<u8> {
    use std::io::Write as _;
    let mut sink: Box<dyn std::io::Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut next = from.max(1);
    let mut count = 0u64;
    match data {
        Some(data) => {
            let store = open_store(&data).await?;
            loop {
                let events = store
                    .read_audit(next, AUDIT_PAGE)
                    .await
                    .context("cannot read the audit log")?;
                let Some(last) = events.last() else { break };
                next = last.seq.saturating_add(1);
                for event in events {
                    writeln!(sink, "{}", json_line(&sigil_server::audit_view(event))?)?;
                    count += 1;
                }
            }
        }
        None => {
            let api = p.login().await?;
            let result: Result<()> = async {
                loop {
                    let page = api.read_audit(next, AUDIT_PAGE).await?;
                    let Some(last) = page.last() else { break };
                    next = last.seq.saturating_add(1);
                    for event in &page {
                        writeln!(sink, "{}", serde_json::to_string(event)?)?;
                        count += 1;
                    }
                }
                Ok(())
            }
            .await;
            api.logout().await;
            result?;
        }
    }
    sink.flush()?;
    if let Some(path) = out {
        eprintln!("{count} events written to {}", path.display());
    }
    Ok(exit::OK)
}

/// One line of JSON with sorted keys (as [`print`]), the form `audit export` has always written.
fn json_line(value: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string(&serde_json::to_value(value)?)?)
}

async fn open_store(data: &Path) -> Result<std::sync::Arc<dyn sigil_domain::Store>> {
    let config = sigil_server::ServerConfig::load(&data.join("sigil.toml")).map_err(|e| {
        exit::usage(format!(
            "{}: not a Sigil data directory: {e}",
            data.display()
        ))
    })?;
    sigil_store::open(&config.database_url())
        .await
        .with_context(|| format!("cannot open the database of {}", data.display()))
}

/// Reads the whole chain from the database and names the first broken event.
async fn verify_offline(data: &Path) -> Result<u8> {
    use sigil_domain::{ChainHead, ChainVerifier};
    let config = sigil_server::ServerConfig::load(&data.join("sigil.toml")).map_err(|e| {
        exit::usage(format!(
            "{}: not a Sigil data directory: {e}",
            data.display()
        ))
    })?;
    let store = sigil_store::open(&config.database_url())
        .await
        .with_context(|| format!("cannot open the database of {}", data.display()))?;
    let head = store
        .audit_head()
        .await
        .context("cannot read the audit head")?;
    let mut verifier = ChainVerifier::new(ChainHead::GENESIS);
    let mut next = 1u64;
    let mut count = 0u64;
    loop {
        let events = store
            .read_audit(next, 1000)
            .await
            .context("cannot read the audit log")?;
        let Some(last) = events.last() else { break };
        next = last.seq.saturating_add(1);
        for event in &events {
            if let Err(broken) = verifier.push(event) {
                return Err(exit::fail(
                    exit::OTHER,
                    format!(
                        "the audit chain is broken at event {}: {broken} (checked {count} events \
                         before it)",
                        broken.seq
                    ),
                ));
            }
            count += 1;
        }
    }
    match verifier.finish(Some(&head)) {
        Ok(end) => {
            out!("audit chain intact: {count} events, head {}", end.seq);
            Ok(exit::OK)
        }
        Err(broken) => Err(exit::fail(
            exit::OTHER,
            format!(
                "the audit chain is broken at event {}: {broken}",
                broken.seq
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Listener certificates

/// `sigil listener`: replace a listener's TLS certificate without a restart.
#[derive(Args, Debug)]
pub(crate) struct ListenerArgs {
    #[command(flatten)]
    profile: ProfileArg,
    #[command(subcommand)]
    action: ListenerAction,
}

#[derive(Subcommand, Debug)]
enum ListenerAction {
    /// Generate a new key for a listener (host-api or https) and write its CSR; prints the
    /// key id to give to `load-chain`.
    Csr {
        /// host-api or https.
        listener: String,
        /// Subject, e.g. "CN=sigil.example.com".
        #[arg(long)]
        subject: Option<String>,
        /// Subject alternative name (repeat for several).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Write the CSR (PEM) here (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load the signed certificate chain (PEM, leaf first) for the key of `csr`.
    LoadChain {
        /// host-api or https.
        listener: String,
        /// The key id printed by `csr`.
        #[arg(long)]
        key_id: String,
        /// The chain (PEM).
        #[arg(long)]
        chain: PathBuf,
        /// Replace this node's own chain (its `node_id` from sigil.toml) instead of the
        /// deployment's (docs/nodes.md).
        #[arg(long)]
        node: Option<String>,
    },
}

pub(crate) async fn listener(args: ListenerArgs) -> Result<u8> {
    let p = &args.profile;
    match args.action {
        ListenerAction::Csr {
            listener,
            subject,
            sans,
            out,
        } => {
            let body = CsrBody { subject, sans };
            let api = p.login().await?;
            let answer = api.listener_csr(&listener, &body).await;
            api.logout().await;
            let answer = answer?;
            eprintln!(
                "key id: {} (give it to `sigil listener load-chain --key-id`)",
                answer.key_id
            );
            write_or_print(out.as_deref(), &answer.csr_pem)
        }
        ListenerAction::LoadChain {
            listener,
            key_id,
            chain,
            node,
        } => {
            let pem = std::fs::read_to_string(&chain)
                .with_context(|| format!("cannot read {}", chain.display()))?;
            let body = ChainBody {
                key_id,
                chain_pem: pem,
                node,
            };
            one(p, async |api| api.listener_chain(&listener, &body).await).await
        }
    }
}
