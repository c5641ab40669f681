//! Row signatures checked many at a time: one multiscalar multiplication for a whole chunk of
//! rows instead of one double scalar multiplication per row, about four times less work per
//! row. Used only to say "all good" quickly; whenever a chunk does not pass as a whole, its rows
//! are checked one by one with [`Verifier25519::verify_bytes`], so the row named and the
//! verdict are those of the single check.
//!
//! Invariants:
//! 1. A chunk passes only if every row in it passes the single check, except for signatures
//!    that only the private key's holder can make (below). Whatever a batch refuses, the single
//!    check decides.
//! 2. Rows signed by the collector always pass as a batch (no false alarm, no slow path).
//!
//! The check, for one trusted key `A`, signatures `(R_i, s_i)` on messages `M_i`,
//! `k_i = SHA-512(R_i ‖ A ‖ M_i)` and fresh random 128-bit `z_i`:
//! `[Σ z_i s_i] B − [Σ z_i k_i] A − Σ [z_i] R_i = 0` (`B` the base point). The single check
//! (`ed25519-dalek`'s `verify`) accepts a row when `[s_i] B − [k_i] A` encodes to the bytes
//! `R_i` exactly. Towards invariant 1, a signature enters the batch only when its `s` is
//! canonical (below the group order, as the single check requires) and its `R` is the
//! canonical encoding of a curve point (the single check compares encodings), and batches are
//! used only when `A` has no small-order component. Then with `D_i = [s_i] B − [k_i] A − R_i`,
//! the single check accepts exactly when `D_i = 0`, and the batch when `Σ z_i D_i = 0`. If some
//! `D_i` has a part in the prime-order subgroup, the sum is zero with probability 2^-128 at
//! most (the `z_i` are drawn after the file is written). The batch can differ only for a
//! `D_i` of small order, that is an `R_i` carrying a small-order component added to a valid
//! `R`: making `[s_i] B − [k_i] A` equal that valid part for a `k_i` that hashes this `R_i` is
//! forging an Ed25519 signature (checked with the cofactor), which needs the private key. The
//! collector's own signatures have `R = [r] B`, without such a component, so `D_i = 0`
//! (invariant 2). `ed25519-dalek`'s own `verify_batch` has the same equation but takes one
//! key per signature (twice the points here, where every row has the same key) and derives
//! the `z_i` from the inputs.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use super::signing::Verifier25519;

/// Rows per batch: past a few hundred, the multiscalar multiplication gains little.
pub(crate) const CHUNK: usize = 256;

/// A signed message and its signature as the file gives it (`None`: not 64 bytes of hex,
/// which no check accepts).
#[derive(Debug)]
pub(crate) struct Signed {
    /// The bytes signed.
    pub(crate) message: Vec<u8>,
    /// The signature.
    pub(crate) signature: Option<[u8; 64]>,
}

/// The position in `rows` of the first one whose signature the single check refuses, if any.
pub(crate) fn first_bad(trusted: &Verifier25519, rows: &[Signed]) -> Option<usize> {
    if all_verify(trusted, rows) {
        return None;
    }
    rows.iter().position(|row| {
        !row.signature
            .is_some_and(|signature| trusted.verify_bytes(&row.message, &signature))
    })
}

/// Whether the batch equation holds for every row (false also when a row cannot enter a batch:
/// the single check then decides).
fn all_verify(trusted: &Verifier25519, rows: &[Signed]) -> bool {
    let key = trusted.key();
    let public = key.to_edwards();
    if !public.is_torsion_free() {
        return false;
    }
    let mut scalars = Vec::with_capacity(rows.len() + 2);
    let mut points = Vec::with_capacity(rows.len() + 2);
    let mut base = Scalar::ZERO;
    let mut on_key = Scalar::ZERO;
    for row in rows {
        let Some(signature) = row.signature else {
            return false;
        };
        let (r_bytes, s_bytes) = split(&signature);
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        if !canonical_encoding(&r_bytes) {
            return false;
        }
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(key.as_bytes())
                .chain_update(&row.message),
        );
        let z = Scalar::from(rand::random::<u128>());
        base += z * s;
        on_key += z * k;
        scalars.push(-z);
        points.push(r);
    }
    scalars.push(base);
    points.push(ED25519_BASEPOINT_POINT);
    scalars.push(-on_key);
    points.push(public);
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points).is_identity()
}

fn split(signature: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    s.copy_from_slice(&signature[32..]);
    (r, s)
}

/// Whether `bytes` are the one encoding of the point they decode to: `y` below p = 2^255 − 19,
/// and no sign bit on `x = 0` (the points with `y = ±1`). Decoding alone accepts both.
fn canonical_encoding(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    let sign = y[31] >> 7;
    y[31] &= 0x7f;
    // p = 2^255 − 19, little-endian: ed ff … ff 7f.
    let at_least_p = y[0] >= 0xed && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    if at_least_p {
        return false;
    }
    let one = y[0] == 1 && y[1..].iter().all(|&b| b == 0);
    // p − 1: ec ff … ff 7f.
    let minus_one = y[0] == 0xec && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    !(sign == 1 && (one || minus_one))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::signing::Signer25519;

    fn signed(signer: &Signer25519, count: usize) -> Vec<Signed> {
        (0..count)
            .map(|index| {
                let message = format!("hygie-row\0id\0row {index}").into_bytes();
                Signed {
                    signature: Some(signer.sign(&message)),
                    message,
                }
            })
            .collect()
    }

    /// Invariant 2, and every row checked at any position of a chunk (invariant 1).
    #[test]
    fn invariant_1_2_a_batch_passes_when_every_row_does_and_names_the_first_that_does_not() {
        let signer = Signer25519::generate();
        let trusted = signer.verifier();
        for count in [1, 2, 7, CHUNK] {
            let rows = signed(&signer, count);
            assert!(all_verify(&trusted, &rows), "{count}");
            assert_eq!(first_bad(&trusted, &rows), None);
        }
        let clean = signed(&signer, 40);
        for bad in [0, 1, 17, 39] {
            // Altered message, altered R, altered s, no signature.
            let mut rows = signed(&signer, 40);
            rows[bad].message.push(b'!');
            assert_eq!(first_bad(&trusted, &rows), Some(bad));
            let mut rows = signed(&signer, 40);
            if let Some(signature) = &mut rows[bad].signature {
                signature[3] ^= 1;
            }
            assert_eq!(first_bad(&trusted, &rows), Some(bad));
            let mut rows = signed(&signer, 40);
            if let Some(signature) = &mut rows[bad].signature {
                signature[40] ^= 1;
            }
            assert_eq!(first_bad(&trusted, &rows), Some(bad));
            let mut rows = signed(&signer, 40);
            rows[bad].signature = None;
            assert_eq!(first_bad(&trusted, &rows), Some(bad));
            // Two rows swapped (each signed, but not where it stands) are caught too.
            let mut rows = signed(&signer, 40);
            let other = (bad + 1) % 40;
            let moved = rows[other].signature;
            rows[other].signature = rows[bad].signature;
            rows[bad].signature = moved;
            assert_eq!(first_bad(&trusted, &rows), Some(bad.min(other)));
        }
        // Another key's signatures.
        let other = Signer25519::generate();
        let mut rows = clean;
        rows.extend(signed(&other, 1));
        assert_eq!(first_bad(&trusted, &rows), Some(40));
    }

    /// Invariant 1: a signature whose s is not reduced, or whose R is another encoding of the
    /// right point, never passes as a batch; the single check decides (and refuses).
    #[test]
    fn invariant_1_non_canonical_signatures_go_to_the_single_check() {
        let signer = Signer25519::generate();
        let trusted = signer.verifier();
        let mut rows = signed(&signer, 3);
        // s + l: the same point equation, bytes the single check refuses.
        if let Some(signature) = &mut rows[1].signature {
            let (_, s) = split(signature);
            // The group order l = 2^252 + 27742317777372353535851937790883648493.
            let mut order = [0u8; 32];
            order[..16].copy_from_slice(&[
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
                0xde, 0x14,
            ]);
            order[31] = 0x10;
            let mut carry = 0u16;
            for (at, byte) in signature[32..].iter_mut().enumerate() {
                let sum = u16::from(s[at]) + u16::from(order[at]) + carry;
                *byte = sum.to_le_bytes()[0];
                carry = sum >> 8;
            }
        }
        assert!(!all_verify(&trusted, &rows));
        assert_eq!(first_bad(&trusted, &rows), Some(1));

        // Encodings: canonical ones, y ≥ p, and x = 0 with the sign bit.
        let identity = EdwardsPoint::default().compress().to_bytes();
        assert!(canonical_encoding(&identity));
        assert!(canonical_encoding(
            &ED25519_BASEPOINT_POINT.compress().to_bytes()
        ));
        let mut signed_identity = identity;
        signed_identity[31] |= 0x80;
        assert!(!canonical_encoding(&signed_identity));
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert!(!canonical_encoding(&p_plus_one));
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert!(canonical_encoding(&minus_one));
        minus_one[31] |= 0x80;
        assert!(!canonical_encoding(&minus_one));
    }

    /// A signature whose R carries a small-order component added to a valid R: the single
    /// check refuses it; the batch is not fooled for a forger (the valid part is then wrong).
    #[test]
    fn invariant_1_small_order_components_are_refused() {
        let signer = Signer25519::generate();
        let trusted = signer.verifier();
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[1];
        let mut rows = signed(&signer, 5);
        if let Some(signature) = &mut rows[2].signature {
            let (r, _) = split(signature);
            let shifted = CompressedEdwardsY(r).decompress().map(|r| r + torsion);
            if let Some(shifted) = shifted {
                signature[..32].copy_from_slice(shifted.compress().as_bytes());
            }
        }
        for _ in 0..16 {
            assert!(!all_verify(&trusted, &rows));
        }
        assert_eq!(first_bad(&trusted, &rows), Some(2));
    }
}
