//! Common Access Tokens for the authorization tests: a signing key, the
//! `--scope-config` file that makes `moq-relay-ietf` (built with `auth-cat`)
//! trust it, and tokens minted with it, as the relay verifies them (same
//! `cat-token` version as the relay's lock file).

use std::path::{Path, PathBuf};

use cat_token::{encode_token, CatToken, Es256Algorithm, MoqtAction, MoqtScopeBuilder};
use p256::pkcs8::EncodePublicKey;

pub use cat_token::Es256Algorithm as Signer;

/// The issuer and audience the scope config names and tokens carry.
pub const ISSUER: &str = "https://issuer.moq.test";
pub const AUDIENCE: &str = "moq-test-relay";
/// The namespace prefix tokens from [`mint`] grant publishing and subscribing under.
pub const ALLOWED_PREFIX: &str = "allowed";

/// A fresh ES256 signing key.
pub fn new_signer() -> Result<Signer, String> {
    Es256Algorithm::new_with_key_pair().map_err(|e| format!("cannot make a key pair: {e}"))
}

/// Writes `issuer.pub.pem` and `scope-config.json` into `dir`: the relay then
/// accepts tokens signed by `signer` for [`ISSUER`] and [`AUDIENCE`]. Returns
/// the scope config's path, for `--scope-config`.
pub fn write_scope_config(dir: &Path, signer: &Signer) -> Result<PathBuf, String> {
    let pem = signer
        .verifying_key()
        .to_public_key_pem(Default::default())
        .map_err(|e| format!("public key PEM: {e}"))?;
    let pem_path = dir.join("issuer.pub.pem");
    std::fs::write(&pem_path, pem).map_err(|e| format!("{}: {e}", pem_path.display()))?;
    let config = format!(
        r#"{{ "default": {{ "auth": {{
            "keys": [{{ "kid": "k1", "alg": "ES256", "pem_file": "{}" }}],
            "issuers": ["{ISSUER}"],
            "audiences": ["{AUDIENCE}"]
        }} }} }}"#,
        pem_path.display()
    );
    let path = dir.join("scope-config.json");
    std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// A token (the encoded CWT, token type 0x1) granting CLIENT_SETUP, and
/// publishing and subscribing under [`ALLOWED_PREFIX`], for `audience`.
pub fn mint(signer: &Signer, audience: &str) -> Result<Vec<u8>, String> {
    let claims = CatToken::new()
        .with_issuer(ISSUER)
        .with_single_audience(audience)
        .with_expires_in(600)
        .with_moqt_scope(
            MoqtScopeBuilder::new()
                .action(MoqtAction::ClientSetup)
                .build(),
        )
        .with_moqt_scope(
            MoqtScopeBuilder::new()
                .publisher()
                .subscriber()
                .namespace_prefix(ALLOWED_PREFIX.as_bytes())
                .track_prefix(b"")
                .build(),
        );
    encode_token(&claims, signer).map_err(|e| format!("cannot encode the token: {e}"))
}
