//! Subject alternative names: the DNS names and IP addresses a TLS certificate is valid for.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;
use der::Decode;
use der::asn1::{Ia5String, OctetString};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::PkiError;
use crate::error::decode_error;

/// The most alternative names one certificate or CSR may carry.
pub const MAX_SANS: usize = 100;

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum San {
    /// A DNS name, stored in lower case (`host.example.com`, `*.example.com`, `localhost`).
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl San {
    /// Parses `DNS:name`, `IP:address`, or a bare name or address.
    ///
    /// DNS names are checked against RFC 1035 syntax (letters, digits and
    /// hyphens, labels of 1–63 characters, 253 characters in all); a wildcard
    /// is allowed only as the whole leftmost label (`*.example.com`).
    pub fn parse(input: &str) -> Result<Self, PkiError> {
        let trimmed = input.trim();
        let (kind, value) = match trimmed.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("dns") => (Some("dns"), v),
            Some((k, v)) if k.eq_ignore_ascii_case("ip") => (Some("ip"), v),
            _ => (None, trimmed),
        };
        match kind {
            Some("ip") => value
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| invalid(input, "not an IPv4 or IPv6 address")),
            Some(_) => San::dns(value).map_err(|reason| invalid(input, &reason)),
            None => match value.parse::<IpAddr>() {
                Ok(ip) => Ok(San::Ip(ip)),
                Err(_) => San::dns(value).map_err(|reason| invalid(input, &reason)),
            },
        }
    }

    fn dns(name: &str) -> Result<Self, String> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return Err("the DNS name is empty".into());
        }
        if name.len() > 253 {
            return Err("a DNS name is at most 253 characters".into());
        }
        for (index, label) in name.split('.').enumerate() {
            if label == "*" && index == 0 && name.contains('.') {
                continue;
            }
            if label.is_empty() || label.len() > 63 {
                return Err("each dot-separated label must be 1 to 63 characters".into());
            }
            if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(
                    "a DNS name may contain only letters, digits, hyphens and dots (a wildcard only as \"*.\" at the start); write internationalised names in their xn-- form"
                        .into(),
                );
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err("a label may not start or end with a hyphen".into());
            }
        }
        Ok(San::Dns(name))
    }

    /// The X.509 `GeneralName`.
    pub(crate) fn to_general_name(&self) -> Result<GeneralName, PkiError> {
        Ok(match self {
            San::Dns(name) => GeneralName::DnsName(Ia5String::new(name)?),
            San::Ip(ip) => GeneralName::IpAddress(OctetString::new(match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            })?),
        })
    }

    /// Reads a `GeneralName` found in a CSR or certificate.
    pub(crate) fn from_general_name(name: &GeneralName) -> Result<Self, PkiError> {
        match name {
            GeneralName::DnsName(dns) => {
                San::dns(dns.as_str()).map_err(|reason| invalid(dns.as_str(), &reason))
            }
            GeneralName::IpAddress(octets) => {
                let bytes = octets.as_bytes();
                if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                    Ok(San::Ip(IpAddr::from(v4)))
                } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                    Ok(San::Ip(IpAddr::from(v6)))
                } else {
                    Err(invalid(
                        "(IP address)",
                        "an IP address SAN must be 4 or 16 bytes",
                    ))
                }
            }
            GeneralName::OtherName(_) => Err(PkiError::UnsupportedSanType("otherName")),
            GeneralName::Rfc822Name(_) => Err(PkiError::UnsupportedSanType("e-mail")),
            GeneralName::DirectoryName(_) => Err(PkiError::UnsupportedSanType("directory name")),
            GeneralName::EdiPartyName(_) => Err(PkiError::UnsupportedSanType("EDI party")),
            GeneralName::UniformResourceIdentifier(_) => Err(PkiError::UnsupportedSanType("URI")),
            GeneralName::RegisteredId(_) => Err(PkiError::UnsupportedSanType("registered ID")),
        }
    }
}

/// The DNS names and IP addresses of a certificate's `subjectAltName` extension, in order;
/// other kinds of names are left out (they say nothing about a TLS server's name).
pub fn certificate_sans(certificate: &Certificate) -> Result<Vec<San>, PkiError> {
    let mut sans = Vec::new();
    let extensions = certificate.tbs_certificate().extensions();
    for extension in extensions
        .into_iter()
        .flatten()
        .filter(|e| e.extn_id == ID_CE_SUBJECT_ALT_NAME)
    {
        let names = SubjectAltName::from_der(extension.extn_value.as_bytes())
            .map_err(|e| decode_error("certificate subjectAltName", e))?;
        if sans.len() + names.0.len() > MAX_SANS {
            return Err(PkiError::TooManySans { max: MAX_SANS });
        }
        for name in &names.0 {
            if matches!(name, GeneralName::DnsName(_) | GeneralName::IpAddress(_)) {
                sans.push(San::from_general_name(name)?);
            }
        }
    }
    Ok(sans)
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

impl FromStr for San {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        San::parse(s)
    }
}

fn invalid(input: &str, reason: &str) -> PkiError {
    PkiError::InvalidSan {
        input: input.chars().take(120).collect(),
        reason: reason.to_owned(),
    }
}

/// Checks the count of `sans` and encodes them as `GeneralName`s, without duplicates.
pub(crate) fn general_names(sans: &[San]) -> Result<Vec<GeneralName>, PkiError> {
    if sans.len() > MAX_SANS {
        return Err(PkiError::TooManySans { max: MAX_SANS });
    }
    let mut unique: Vec<&San> = sans.iter().collect();
    unique.sort();
    unique.dedup();
    unique.into_iter().map(San::to_general_name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_addresses() {
        assert_eq!(
            San::parse("DNS:Sigil.Example.COM.").unwrap(),
            San::Dns("sigil.example.com".into())
        );
        assert_eq!(
            San::parse("localhost").unwrap(),
            San::Dns("localhost".into())
        );
        assert_eq!(
            San::parse("*.example.com").unwrap(),
            San::Dns("*.example.com".into())
        );
        assert_eq!(
            San::parse("127.0.0.1").unwrap(),
            San::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            San::parse("ip:::1").unwrap(),
            San::Ip("::1".parse().unwrap())
        );
        assert_eq!(San::parse("IP:::1").unwrap().to_string(), "IP:::1");
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "DNS:",
            "exa mple.com",
            "-a.example.com",
            "a..b",
            "*",
            "a.*.example.com",
            "ex_ample.com",
            "IP:300.1.1.1",
            "bücher.de",
        ] {
            assert!(
                matches!(San::parse(bad), Err(PkiError::InvalidSan { .. })),
                "{bad:?}"
            );
        }
        assert!(San::parse(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn general_names_round_trip() {
        let sans = [
            San::parse("a.example").unwrap(),
            San::parse("10.0.0.1").unwrap(),
            San::parse("::1").unwrap(),
        ];
        for san in &sans {
            let general = san.to_general_name().unwrap();
            assert_eq!(&San::from_general_name(&general).unwrap(), san);
        }
        let twice = [sans[0].clone(), sans[0].clone()];
        assert_eq!(general_names(&twice).unwrap().len(), 1);
    }
}
