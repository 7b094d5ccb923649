//! Personal-data masking for roles that may see customers but not their personal data
//! (analysts and executives, see the `masked` cells of [`crate::MATRIX`]).
//!
//! Masked: e-mail addresses (first letter and domain kept), phone numbers (country prefix and
//! last two digits kept), postal addresses, birth dates, loyalty numbers (last three kept) and
//! extra profile fields whose names mark them as identifiers. Names, city, tier and scores
//! stay, because analysts build lists and read results by them.

use rapport_core::{ContactKind, Customer, CustomerRecord, Preference};

/// Masks an e-mail address: `jane.doe@example.com` becomes `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// Masks a phone number: `+447700900123` becomes `+44*******23`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 5))
}

/// Masks an identifier, keeping its last three characters.
pub fn mask_identifier(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let keep = chars.len().min(3);
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{}{tail}", "*".repeat(chars.len() - keep))
}

/// Profile `extra` fields whose name contains one of these are masked as identifiers.
const SENSITIVE_EXTRA: [&str; 6] = ["national", "passport", "ssn", "tax", "iban", "card"];

/// Masks a customer's personal data in place.
pub fn mask_customer(c: &mut Customer) {
    for cp in &mut c.contacts {
        cp.value = match cp.kind {
            ContactKind::Email => mask_email(&cp.value),
            ContactKind::Phone => mask_phone(&cp.value),
            ContactKind::Address => "*** (address masked)".to_string(),
        };
    }
    c.profile.birth_date = None;
    if let Some(l) = &mut c.profile.loyalty_number {
        l.value = mask_identifier(&l.value);
    }
    for (name, v) in &mut c.profile.extra {
        let n = name.to_ascii_lowercase();
        if SENSITIVE_EXTRA.iter().any(|s| n.contains(s)) {
            v.value = mask_identifier(&v.value);
        }
    }
    for p in &mut c.preferences {
        mask_preference(p);
    }
}

fn mask_preference(p: &mut Preference) {
    // Contact details stated as preferences ("contact me at ...") are personal data too.
    if p.value.contains('@') {
        p.value = mask_email(&p.value);
    } else if p.value.chars().filter(|c| c.is_ascii_digit()).count() >= 6 {
        p.value = mask_identifier(&p.value);
    }
}

/// Masks a unified record in place and marks it masked.
pub fn mask_record(r: &mut CustomerRecord) {
    mask_customer(&mut r.customer);
    r.masked = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_core::{ContactPoint, CustomerId, Date, PartyKind, Sourced, Timestamp};

    #[test]
    fn masks_contacts_birth_date_and_loyalty() {
        let t = Timestamp::from_secs(1);
        let mut c = Customer::new(CustomerId(1), PartyKind::Person, t);
        for (kind, value) in [
            (ContactKind::Email, "jane.doe@example.com"),
            (ContactKind::Phone, "+447700900123"),
            (ContactKind::Address, "1 High St, London"),
        ] {
            c.contacts.push(ContactPoint {
                kind,
                value: value.into(),
                valid_from: None,
                valid_to: None,
                source: None,
                last_seen: t,
            });
        }
        c.profile.birth_date = Some(Sourced::new(Date::new(1984, 2, 29).unwrap(), None, t));
        c.profile.loyalty_number = Some(Sourced::new("M1234567".into(), None, t));
        mask_customer(&mut c);
        let values: Vec<_> = c.contacts.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(
            values,
            ["j***@example.com", "+44********23", "*** (address masked)"]
        );
        assert_eq!(c.profile.birth_date, None);
        assert_eq!(c.profile.loyalty_number.unwrap().value, "*****567");
        assert_eq!(mask_phone("123"), "***");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
