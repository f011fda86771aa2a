//! PKI operations: CA containers, certificates, revocation, CRLs, PKCS#12 export, listener chains.
