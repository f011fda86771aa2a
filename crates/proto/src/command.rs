//! Command codes: the value of the `AO` field.

use std::fmt;

use crate::value::ValueError;

macro_rules! commands {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal; )*) => {
        /// A Host API command code (the four letters after `AO`).
        ///
        /// A well-formed code this version does not know is kept intact in
        /// [`Command::Unknown`], so the server can answer it with its own precise error
        /// (`UNKNOWN_COMMAND`) and echo it back in `AO`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Command {
            $( $(#[$doc])* $variant, )*
            /// A code of four uppercase letters that this version does not know.
            Unknown([u8; 4]),
        }

        impl Command {
            /// Every command this version knows, in the order of `docs/host-api.md`.
            pub const KNOWN: &'static [Command] = &[$(Command::$variant),*];

            /// The four-letter code. An [`Unknown`](Command::Unknown) code that does not hold
            /// four uppercase letters (only possible when built by hand) reads as `????`, which
            /// the encoder refuses.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Command::$variant => $code, )*
                    Command::Unknown(code) => std::str::from_utf8(code)
                        .ok()
                        .filter(|_| code.iter().all(u8::is_ascii_uppercase))
                        .unwrap_or("????"),
                }
            }

            /// Reads a command code: four ASCII uppercase letters, known or not.
            pub fn parse(code: &str) -> Result<Command, ValueError> {
                let bytes: [u8; 4] = code.as_bytes().try_into().map_err(|_| ValueError::BadCommand)?;
                if !bytes.iter().all(u8::is_ascii_uppercase) {
                    return Err(ValueError::BadCommand);
                }
                Ok(match code {
                    $( $code => Command::$variant, )*
                    _ => Command::Unknown(bytes),
                })
            }
        }
    };
}

commands! {
    /// `ECHO` — communication test; answers with the server version.
    Echo = "ECHO";
    /// `TIME` — answers with the server time.
    Time = "TIME";
    /// `RKLO` — logs an identity in on this connection; answers with the logins still required.
    Login = "RKLO";
    /// `RKCP` — commands and permissions available to this session.
    Capabilities = "RKCP";
    /// `RAFA` — aliases of the issuance policies visible to this session.
    ListPolicies = "RAFA";
    /// `RAGA` — details of one issuance policy.
    GetPolicy = "RAGA";
    /// `RAUO` — uploads a hash-signing request.
    UploadHash = "RAUO";
    /// `RAGO` — retrieves a hash-signing request (result: raw signature).
    RetrieveHash = "RAGO";
    /// `RAUZ` — uploads an Authenticode request.
    UploadAuthenticode = "RAUZ";
    /// `RAGZ` — retrieves an Authenticode request (result: PKCS#7 SignedData DER).
    RetrieveAuthenticode = "RAGZ";
    /// `RAUJ` — uploads a JAR request.
    UploadJar = "RAUJ";
    /// `RAGJ` — retrieves a JAR request (result: PKCS#7 signature block DER).
    RetrieveJar = "RAGJ";
    /// `RAUR` — opens a release: several uploads (tagged `RL`) decided by one approval.
    OpenRelease = "RAUR";
    /// `RAGR` — retrieves a release: its state, approvers and times.
    GetRelease = "RAGR";
    /// `RAUP` — uploads an OpenPGP request (digest of the file and the signature's hashed
    /// part, with its creation time `OT`).
    UploadOpenPgp = "RAUP";
    /// `RAGP` — retrieves an OpenPGP request (result: the v4 signature packet).
    RetrieveOpenPgp = "RAGP";
    /// `RAGK` — a policy's OpenPGP public key, self-signed by the server.
    GetOpenPgpKey = "RAGK";
}

impl Command {
    /// Whether this version knows the command.
    pub fn is_known(&self) -> bool {
        !matches!(self, Command::Unknown(_))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_round_trip() {
        for command in Command::KNOWN {
            assert_eq!(Command::parse(command.as_str()), Ok(*command));
            assert!(command.is_known());
        }
    }

    #[test]
    fn unknown_codes_are_kept_intact() {
        let unknown = Command::parse("RAXX").unwrap();
        assert_eq!(unknown, Command::Unknown(*b"RAXX"));
        assert_eq!(unknown.as_str(), "RAXX");
        assert!(!unknown.is_known());
        assert_eq!(Command::Unknown(*b"ab;d").as_str(), "????");
    }

    #[test]
    fn malformed_codes_are_refused() {
        for code in ["", "ECH", "ECHOS", "echo", "EC1O", "EC O"] {
            assert_eq!(Command::parse(code), Err(ValueError::BadCommand), "{code}");
        }
    }
}
