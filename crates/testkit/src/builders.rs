//! Inputs built by independent tools: MSI packages (`wixl`), cabinets (`gcab`), unsigned
//! catalog files (`openssl asn1parse -genconf`), RPM packages (`rpmbuild`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{entries, require, run};

/// Builds an MSI holding a `payload_len`-byte file with `wixl` into `dir/name`.
pub fn wixl_msi(dir: &Path, name: &str, payload_len: usize) -> PathBuf {
    require("wixl", "wixl");
    let work = dir.join(format!("{name}-src"));
    fs::create_dir_all(&work).unwrap();
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(work.join("payload.bin"), payload).unwrap();
    fs::write(
        work.join("app.wxs"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Sigil Test" Language="1033" Version="1.0.0" Manufacturer="Sigil"
           UpgradeCode="5e1a0e0a-6a1c-4d0f-9d3a-0c6b1b0f7a11">
    <Package InstallerVersion="200" Compressed="yes" />
    <Media Id="1" Cabinet="app.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="SigilTest">
          <Component Id="Payload" Guid="5e1a0e0a-6a1c-4d0f-9d3a-0c6b1b0f7a12">
            <File Id="PayloadFile" Source="payload.bin" KeyPath="yes" />
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Payload" /></Feature>
  </Product>
</Wix>
"#,
    )
    .unwrap();
    let msi = dir.join(name);
    run(Command::new("wixl")
        .current_dir(&work)
        .arg("-o")
        .arg(&msi)
        .arg("app.wxs"));
    fs::remove_dir_all(work).unwrap();
    msi
}

/// Builds `cab` with `gcab --create --nopath` from `files` (names inside `src`), compressed
/// with MSZIP when `compress`.
pub fn gcab_create(src: &Path, cab: &Path, files: &[&str], compress: bool) {
    require("gcab", "gcab");
    let mut cmd = Command::new("gcab");
    cmd.current_dir(src).arg("--create").arg("--nopath");
    if compress {
        cmd.arg("--zip");
    }
    run(cmd.arg(cab).args(files));
}

/// The files `gcab --extract` takes out of `cab` (name → contents), extracted under `dir`.
pub fn gcab_extract(dir: &Path, cab: &Path) -> Vec<(String, Vec<u8>)> {
    require("gcab", "gcab");
    let out = dir.join(format!("{}-x", cab.file_name().unwrap().to_string_lossy()));
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).unwrap();
    run(Command::new("gcab")
        .arg("--extract")
        .arg("--directory")
        .arg(&out)
        .arg(cab));
    entries(&out)
        .into_iter()
        .map(|name| {
            let bytes = fs::read(out.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

/// `openssl asn1parse -genconf` for an unsigned catalog: ContentInfo { signedData,
/// SignedData { 1, {}, { szOID_CTL, CTL }, {} } } (a signer-less SignedData over a
/// certificate trust list, as makecat writes it) with two members, tagged `A\0B\0C\0D\0E\0F\0`
/// and `1\02\03\04\05\06\0`.
pub const UNSIGNED_CATALOG: &str = "\
asn1=SEQUENCE:content_info
[content_info]
type=OID:pkcs7-signedData
content=EXPLICIT:0,SEQUENCE:signed_data
[signed_data]
version=INTEGER:1
digest_algorithms=SET:empty
encap=SEQUENCE:encap
signer_infos=SET:empty
[empty]
[encap]
type=OID:1.3.6.1.4.1.311.10.1
content=EXPLICIT:0,SEQUENCE:ctl
[ctl]
usage=SEQUENCE:usage
identifier=FORMAT:HEX,OCTETSTRING:5349474c434154414c4f472d54455354
this_update=UTCTIME:261204101500Z
member_algorithm=SEQUENCE:member_algorithm
members=SEQUENCE:members
[usage]
catalog_list=OID:1.3.6.1.4.1.311.12.1.1
[member_algorithm]
catalog_list_member=OID:1.3.6.1.4.1.311.12.1.2
parameters=NULL
[members]
first=SEQUENCE:first
second=SEQUENCE:second
[first]
tag=FORMAT:HEX,OCTETSTRING:410042004300440045004600
attributes=SET:empty
[second]
tag=FORMAT:HEX,OCTETSTRING:310032003300340035003600
attributes=SET:empty
";

/// Writes the unsigned catalog ([`UNSIGNED_CATALOG`] with `edit` applied to the genconf text)
/// to `dir/name` with openssl.
pub fn unsigned_catalog(dir: &Path, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    require("openssl", "openssl");
    let conf = dir.join(format!("{name}.cnf"));
    fs::write(&conf, edit(UNSIGNED_CATALOG)).unwrap();
    let out = dir.join(name);
    run(Command::new("openssl")
        .args(["asn1parse", "-noout", "-genconf"])
        .arg(&conf)
        .arg("-out")
        .arg(&out));
    out
}

/// Builds the package `hello-sigil` 1.0 (one text file) with rpmbuild
/// under `dir`; returns its path.
pub fn rpmbuild_package(dir: &Path) -> PathBuf {
    let specs = dir.join("top/SPECS");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::write(
        specs.join("hello.spec"),
        "Name: hello-sigil\nVersion: 1.0\nRelease: 1\nSummary: test\nLicense: MIT\n\
         BuildArch: noarch\n%description\ntest\n%install\n\
         mkdir -p %{buildroot}/usr/share/hello-sigil\n\
         seq 1 20000 > %{buildroot}/usr/share/hello-sigil/hello.txt\n\
         %files\n/usr/share/hello-sigil/hello.txt\n",
    )
    .unwrap();
    require("rpmbuild", "rpm");
    run(Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", dir.join("top").display()))
        .arg(specs.join("hello.spec")));
    dir.join("top/RPMS/noarch/hello-sigil-1.0-1.noarch.rpm")
}
