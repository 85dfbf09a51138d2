//! The fingerprints of the primary keys in an OpenPGP keyring file (binary
//! or ASCII-armored), read on the controller: `pkgrepo.absent`'s `keyid`
//! finds apt's keyring holding a key without gpg on the host (Debian's apt
//! needs none, and halite's fleet hosts have none).
//!
//! Only what naming a key needs: the packet framing (RFC 4880 §4.2, old and
//! new headers) and the v4 fingerprint (§12.2, SHA-1 of the public-key
//! packet). A key of another version is listed without a fingerprint, so
//! callers can tell "some key we cannot name" from "no key".

use sha1::{Digest, Sha1};

const ARMOR_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// The primary keys of `bytes`, in file order: the uppercase hex v4
/// fingerprint, or `None` for a key of another version. `Err` when the
/// bytes are not an OpenPGP keyring.
pub fn primary_fingerprints(bytes: &[u8]) -> Result<Vec<Option<String>>, String> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains(ARMOR_BEGIN) {
        let mut out = Vec::new();
        for block in dearmor(&text)? {
            out.extend(packets(&block)?);
        }
        return Ok(out);
    }
    packets(bytes)
}

/// The binary contents of each armored public-key block in `text`.
fn dearmor(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while lines.by_ref().any(|l| l == ARMOR_BEGIN) {
        // Armor headers end at the first blank line.
        let mut b64 = String::new();
        let mut in_headers = true;
        let mut ended = false;
        for l in lines.by_ref() {
            if l.starts_with("-----END PGP PUBLIC KEY BLOCK-----") {
                ended = true;
                break;
            }
            if in_headers {
                if l.is_empty() {
                    in_headers = false;
                } else if !l.contains(": ") {
                    // No headers at all: this line is data already.
                    in_headers = false;
                    b64.push_str(l);
                }
                continue;
            }
            if l.starts_with('=') {
                continue; // the CRC-24 checksum
            }
            b64.push_str(l);
        }
        if !ended {
            return Err("an armored key block without its END line".into());
        }
        blocks.push(
            data_encoding::BASE64
                .decode(b64.as_bytes())
                .map_err(|e| format!("an armored key block is not base64: {e}"))?,
        );
    }
    Ok(blocks)
}

/// Walk the packets of a binary keyring: the primary keys' fingerprints.
fn packets(mut b: &[u8]) -> Result<Vec<Option<String>>, String> {
    let bad = || "not an OpenPGP keyring".to_string();
    let mut out = Vec::new();
    if b.is_empty() {
        return Err(bad());
    }
    while let Some((&head, rest)) = b.split_first() {
        if head & 0x80 == 0 {
            return Err(bad());
        }
        let (tag, len, rest) = if head & 0x40 != 0 {
            let tag = head & 0x3f;
            let (&o1, rest) = rest.split_first().ok_or_else(bad)?;
            match o1 {
                0..=191 => (tag, o1 as usize, rest),
                192..=223 => {
                    let (&o2, rest) = rest.split_first().ok_or_else(bad)?;
                    (tag, ((o1 as usize - 192) << 8) + o2 as usize + 192, rest)
                }
                255 => {
                    let n = rest.get(..4).ok_or_else(bad)?;
                    (
                        tag,
                        u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize,
                        &rest[4..],
                    )
                }
                // Partial lengths never frame key packets.
                _ => return Err(bad()),
            }
        } else {
            let tag = (head >> 2) & 0x0f;
            match head & 3 {
                0 => {
                    let (&n, rest) = rest.split_first().ok_or_else(bad)?;
                    (tag, n as usize, rest)
                }
                1 => {
                    let n = rest.get(..2).ok_or_else(bad)?;
                    (tag, u16::from_be_bytes([n[0], n[1]]) as usize, &rest[2..])
                }
                2 => {
                    let n = rest.get(..4).ok_or_else(bad)?;
                    (
                        tag,
                        u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize,
                        &rest[4..],
                    )
                }
                _ => (tag, rest.len(), rest),
            }
        };
        let body = rest.get(..len).ok_or_else(bad)?;
        if tag == 6 {
            out.push(v4_fingerprint(body));
        }
        b = &rest[len..];
    }
    Ok(out)
}

/// A v4 key's fingerprint: SHA-1 over 0x99, the two-byte length and the
/// packet body.
fn v4_fingerprint(body: &[u8]) -> Option<String> {
    if body.first() != Some(&4) || body.len() > 0xffff {
        return None;
    }
    let mut h = Sha1::new();
    h.update([0x99]);
    h.update((body.len() as u16).to_be_bytes());
    h.update(body);
    Some(data_encoding::HEXUPPER.encode(&h.finalize()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An ed25519 key made with `gpg --quick-gen-key` (2.2.40); gpg printed
    /// its fingerprint as below.
    pub(crate) const TEST_KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEaxGj2RYJKwYBBAHaRw8BAQdAmueRZdUXqygJ9/59wTQx60NJKNizncxMA6Uk
TMWqh/+0H2hhbGl0ZSB0ZXN0IDx0QGV4YW1wbGUuaW52YWxpZD6IkAQTFggAOBYh
BMpgWKE1FltcqezcJ7PWFKODDbRzBQJrEaPZAhsDBQsJCAcCBhUKCQgLAgQWAgMB
Ah4BAheAAAoJELPWFKODDbRz3ewBAMqWr2g18NmxeqNrnmvyg8n3AUdOkUWH7Dkg
iM56sb2NAQDg97KE7InMwoqi32ytK4pKwVVG7ZroPrjvLH+tvZrDAw==
=VJAi
-----END PGP PUBLIC KEY BLOCK-----
";
    pub(crate) const TEST_FPR: &str = "CA6058A135165B5CA9ECDC27B3D614A3830DB473";

    /// A binary keyring with the test key and another key (the test
    /// key's packet with one byte of its key material changed).
    pub(crate) fn two_keys() -> Vec<u8> {
        let one = dearmor(TEST_KEY).unwrap().remove(0);
        let mut other = one.clone();
        other[20] ^= 1;
        [one, other].concat()
    }

    #[test]
    fn armored_and_binary_keyrings() {
        let fpr = Some(TEST_FPR.to_string());
        assert_eq!(
            primary_fingerprints(TEST_KEY.as_bytes()).unwrap(),
            vec![fpr.clone()]
        );
        let binary = dearmor(TEST_KEY).unwrap().remove(0);
        assert_eq!(primary_fingerprints(&binary).unwrap(), vec![fpr.clone()]);
        // Two keys in one keyring (as /etc/apt/trusted.gpg holds them).
        let two = [binary.clone(), binary.clone()].concat();
        assert_eq!(primary_fingerprints(&two).unwrap(), vec![fpr.clone(), fpr]);
        // gpg writes old-format headers; the same key packet in the new format.
        assert_eq!(binary[0], 0x98);
        let mut new = vec![0xc6];
        new.extend(&binary[1..]);
        assert_eq!(
            primary_fingerprints(&new).unwrap(),
            primary_fingerprints(&binary).unwrap()
        );
        let two = primary_fingerprints(&two_keys()).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].as_deref(), Some(TEST_FPR));
        assert_ne!(two[0], two[1]);
        for junk in [&b""[..], b"hello", &binary[..10]] {
            assert!(primary_fingerprints(junk).is_err(), "{junk:?}");
        }
    }
}
