//! Signing-key material: generation (aws-lc-rs) and conversion to jsonwebtoken keys and
//! public JWKs. RS256 (required by OpenID Connect), ES256 and EdDSA (Ed25519).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, jwk::Jwk};

/// A signing algorithm Gatehouse offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    /// Every algorithm, RS256 first (the OpenID Connect default).
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The jsonwebtoken algorithm.
    pub fn jwt(self) -> Algorithm {
        match self {
            Alg::RS256 => Algorithm::RS256,
            Alg::ES256 => Algorithm::ES256,
            Alg::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Alg::RS256),
            "ES256" => Ok(Alg::ES256),
            "EdDSA" => Ok(Alg::EdDSA),
            other => Err(format!("{other:?} is not one of RS256, ES256, EdDSA")),
        }
    }
}

/// Key material errors.
#[derive(Debug, thiserror::Error)]
#[error("signing key: {0}")]
pub struct KeyMaterialError(pub String);

/// Generates a private key as PKCS#8 DER.
pub fn generate(alg: Alg) -> Result<Vec<u8>, KeyMaterialError> {
    use aws_lc_rs::encoding::AsDer;
    let err = |e: aws_lc_rs::error::Unspecified| KeyMaterialError(format!("{alg} key generation failed: {e}"));
    match alg {
        Alg::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(err)?;
            Ok(kp.as_der().map_err(err)?.as_ref().to_vec())
        }
        Alg::ES256 => {
            let kp =
                aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(err)?;
            Ok(kp.to_pkcs8v1().map_err(err)?.as_ref().to_vec())
        }
        Alg::EdDSA => {
            let kp = aws_lc_rs::signature::Ed25519KeyPair::generate().map_err(err)?;
            // jsonwebtoken's JWK export wants the 48-byte PKCS#8 v1 form.
            Ok(kp.to_pkcs8v1().map_err(err)?.as_ref().to_vec())
        }
    }
}

/// The jsonwebtoken signing key for PKCS#8 DER.
pub fn encoding_key(alg: Alg, pkcs8: &[u8]) -> Result<EncodingKey, KeyMaterialError> {
    match alg {
        // jsonwebtoken's RSA signer wants PKCS#1; its PEM reader unwraps PKCS#8.
        Alg::RS256 => {
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                STANDARD.encode(pkcs8)
            );
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| KeyMaterialError(e.to_string()))
        }
        Alg::ES256 => Ok(EncodingKey::from_ec_der(pkcs8)),
        Alg::EdDSA => Ok(EncodingKey::from_ed_der(pkcs8)),
    }
}

/// The public JWK of a key, with `kid`, `use: sig` and `alg` set.
pub fn public_jwk(alg: Alg, kid: &str, key: &EncodingKey) -> Result<Jwk, KeyMaterialError> {
    let mut jwk = Jwk::from_encoding_key(key, alg.jwt()).map_err(|e| KeyMaterialError(e.to_string()))?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
    Ok(jwk)
}

/// The verification key of a public JWK.
pub fn decoding_key(jwk: &Jwk) -> Result<DecodingKey, KeyMaterialError> {
    DecodingKey::from_jwk(jwk).map_err(|e| KeyMaterialError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies_through_its_public_jwk() {
        for alg in Alg::ALL {
            let der = generate(alg).unwrap();
            let enc = encoding_key(alg, &der).unwrap();
            let jwk = public_jwk(alg, "k1", &enc).unwrap();
            let json = serde_json::to_value(&jwk).unwrap();
            assert_eq!(json["kid"], "k1");
            assert_eq!(json["use"], "sig");
            assert_eq!(json["alg"], alg.as_str());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(json.get(private).is_none(), "{alg}: private member {private} in JWK");
            }
            let mut header = jsonwebtoken::Header::new(alg.jwt());
            header.kid = Some("k1".into());
            let token =
                jsonwebtoken::encode(&header, &serde_json::json!({"sub": "x", "exp": 4_000_000_000u64}), &enc).unwrap();
            let dec = decoding_key(&jwk).unwrap();
            let mut v = jsonwebtoken::Validation::new(alg.jwt());
            v.validate_aud = false;
            let data = jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &v).unwrap();
            assert_eq!(data.claims["sub"], "x");
        }
    }
}
