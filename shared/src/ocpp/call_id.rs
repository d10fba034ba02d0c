//! The message id of a CALL we send names the result it is for, so a charger's answer finds its
//! result without a lookup: `{run}{seq}.{nonce}`, the run's UUID in unpadded base64url (22
//! characters), the result's position in base36, a dot, and random base36 characters up to OCPP
//! 1.6's limit of 36. The nonce tells apart the CALLs of one result (a CALL taken back and sent
//! again) and keeps another result's id from being guessed; the answer is still accepted only from
//! the charger the result names, and only for the CALL the result holds (`Expect::Answer`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

/// OCPP 1.6-J: a message id is at most 36 characters.
pub const MAX_LEN: usize = 36;
const RUN_LEN: usize = 22;
const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A fresh message id for a CALL of result `seq` of run `run`.
pub fn encode(run: Uuid, seq: u64) -> String {
    let mut id = URL_SAFE_NO_PAD.encode(run.as_bytes());
    id.push_str(&base36(seq));
    id.push('.');
    while id.len() < MAX_LEN {
        id.push(char::from(DIGITS[fastrand::usize(..DIGITS.len())]));
    }
    id
}

/// The run and position an id made by `encode` names; `None` for any other string.
pub fn decode(id: &str) -> Option<(Uuid, u64)> {
    if id.len() > MAX_LEN || !id.is_ascii() {
        return None;
    }
    let (head, _nonce) = id.split_once('.')?;
    if head.len() <= RUN_LEN {
        return None;
    }
    let (run, seq) = head.split_at(RUN_LEN);
    let bytes: [u8; 16] = URL_SAFE_NO_PAD.decode(run).ok()?.try_into().ok()?;
    let seq = u64::from_str_radix(seq, 36).ok()?;
    Some((Uuid::from_bytes(bytes), seq))
}

fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_its_result_within_ocpp_limits() {
        let run = Uuid::new_v4();
        for seq in [0, 7, 35, 36, 149_999, u64::from(u32::MAX), u64::MAX] {
            let id = encode(run, seq);
            assert!(id.len() <= MAX_LEN, "{id}");
            assert_eq!(decode(&id), Some((run, seq)), "{id}");
        }
        assert_ne!(encode(run, 1), encode(run, 1), "two CALLs of one result have two ids");
        assert_eq!(encode(run, 1).len(), MAX_LEN);
    }

    #[test]
    fn other_ids_name_nothing() {
        for id in
            ["", "42", &Uuid::new_v4().to_string(), "a.b", "AAAAAAAAAAAAAAAAAAAAAA.x", "AAAAAAAAAAAAAAAAAAAAAA!z.x"]
        {
            assert_eq!(decode(id), None, "{id}");
        }
        let long = format!("{}.{}", encode(Uuid::nil(), 1).split('.').next().unwrap_or_default(), "x".repeat(40));
        assert_eq!(decode(&long), None);
    }
}
