//! Personal-data masking for roles that may see customers but not their personal data
//! (analysts and executives, see the `masked` cells of [`crate::MATRIX`]).
//!
//! Masked: e-mail addresses (first letter and domain kept), phone numbers (country prefix and
//! last two digits kept), postal addresses, birth dates, loyalty numbers (last three kept) and
//! extra profile fields whose names mark them as identifiers; in the history, booking
//! references, bag tags, boarding-pass names and other identifying attributes, and personal
//! data typed into free text (e-mails, phone numbers, booking references, boarding-pass
//! names). Names, city, tier and scores stay, because analysts build lists and read results
//! by them. A masked role searches by name only ([`is_identifier_query`]): a full e-mail or
//! phone number would tell it who is a customer.

use rapport_core::{AttrValue, ContactKind, Customer, CustomerRecord, Interaction, Preference};

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

/// Masks a unified record in place and marks it masked: the customer, every interaction of
/// the page (identifiers in attributes, personal data in free text), the cues and the cases.
pub fn mask_record(r: &mut CustomerRecord) {
    mask_customer(&mut r.customer);
    for i in &mut r.interactions {
        mask_interaction(i);
    }
    for c in &mut r.cues {
        c.text = mask_text(&c.text);
    }
    for c in &mut r.cases {
        c.text = c.text.as_deref().map(mask_text);
        c.about = c.about.as_deref().map(mask_text);
        if let Some(res) = &mut c.resolution {
            res.text = res.text.as_deref().map(mask_text);
        }
    }
    for g in &mut r.grants {
        g.disruption = mask_text(&g.disruption);
    }
    r.masked = true;
}

/// Attribute names (or parts of them) that hold a personal identifier.
const PERSONAL_ATTR: [&str; 12] = [
    "booking",
    "pnr",
    "bag",
    "passenger",
    "name",
    "phone",
    "email",
    "mail",
    "loyalty",
    "member",
    "address",
    "ticket",
];

/// Masks an interaction in place: attributes that identify the person (booking references,
/// bag tags, boarding-pass names, phones, e-mails, loyalty numbers) and personal data inside
/// its free text and other text attributes. Amounts, kinds, times and places stay.
pub fn mask_interaction(i: &mut Interaction) {
    i.text = i.text.as_deref().map(mask_text);
    for (name, value) in i.attributes.iter_mut() {
        let AttrValue::Text(t) = value else { continue };
        let n = name.to_ascii_lowercase();
        *t = if n.contains("mail") && t.contains('@') {
            mask_email(t)
        } else if PERSONAL_ATTR.iter().any(|p| n.contains(p)) {
            mask_identifier(t)
        } else {
            mask_text(t)
        };
    }
}

/// Personal data inside free text masked: e-mail addresses, phone numbers and other long
/// digit runs (bag tags, card numbers; dates are kept), booking references (six letters and
/// digits with both) and boarding-pass names (`OKAFOR/MARGARET MS`).
pub fn mask_text(text: &str) -> String {
    let masked_digits = mask_digit_runs(text);
    let mut out = String::with_capacity(masked_digits.len());
    for (k, piece) in masked_digits.split(' ').enumerate() {
        if k > 0 {
            out.push(' ');
        }
        let core = piece.trim_matches(|c: char| ",;:!?()\"'<>[]".contains(c) || c == '.');
        let masked = if core.contains('@') && core.contains('.') {
            Some(mask_email(core))
        } else if is_booking_ref(core) {
            Some(mask_identifier(core))
        } else if is_pass_name(core) {
            Some("***/***".to_string())
        } else {
            None
        };
        match masked {
            Some(m) if !core.is_empty() => out.push_str(&piece.replacen(core, &m, 1)),
            _ => out.push_str(piece),
        }
    }
    out
}

/// Six characters of capital letters and digits with at least one of each (a PNR).
fn is_booking_ref(s: &str) -> bool {
    s.len() == 6
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_uppercase())
}

/// `SURNAME/GIVEN` in capitals, as on a boarding pass.
fn is_pass_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((a, b)) => {
            a.len() >= 2
                && b.len() >= 2
                && a.bytes().all(|c| c.is_ascii_uppercase() || c == b'-')
                && b.bytes().all(|c| c.is_ascii_uppercase() || c == b'-')
        }
        None => false,
    }
}

/// Runs of seven or more digits (with the spaces, dashes, dots and brackets people type in
/// phone numbers, and a leading `+`) masked but for their last two digits; a run that is a
/// date (`2026-11-23`, `23.11.2026`) or starts right after a letter (`RP121`) is kept.
fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = (c.is_ascii_digit()
            || (c == '+' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            out.push(c);
            i += 1;
            continue;
        }
        // Extend over digits and separators that are followed by more digits.
        let mut j = i + 1;
        let mut end = i + 1;
        while j < chars.len() {
            let d = chars[j];
            if d.is_ascii_digit() {
                j += 1;
                end = j;
            } else if " -.()".contains(d)
                && chars
                    .get(j + 1)
                    .is_some_and(|n| n.is_ascii_digit() || *n == '(')
            {
                j += 1;
            } else {
                break;
            }
        }
        let run: String = chars[i..end].iter().collect();
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if digits >= 7 && !is_date(&run) {
            let mut left = digits;
            for ch in run.chars() {
                if ch.is_ascii_digit() {
                    out.push(if left > 2 { '*' } else { ch });
                    left -= 1;
                } else {
                    out.push(ch);
                }
            }
        } else {
            out.push_str(&run);
        }
        i = end;
    }
    out
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['-', '.']).collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && (lens == [4, 2, 2] || lens == [2, 2, 4])
}

/// Whether a search query names a person by a full identifier (an e-mail, a phone number,
/// a loyalty or booking number) rather than by name: masked roles may not probe with one.
pub fn is_identifier_query(query: &str) -> bool {
    let q = query.trim();
    let digits = q.chars().filter(char::is_ascii_digit).count();
    q.contains('@')
        || digits >= 6
        || q.split_whitespace().any(|t| {
            let t = t.to_ascii_uppercase();
            is_booking_ref(&t)
                || (t.len() >= 6
                    && t.chars().any(|c| c.is_ascii_digit())
                    && t.chars().any(|c| c.is_ascii_alphabetic()))
        })
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
    #[test]
    fn free_text_loses_its_personal_data_and_keeps_the_rest() {
        let t = "Call +44 20 7946 0958 or jane.doe@example.com about PNR K7Q2LM, \
                 bag 0360760481, pass OKAFOR/MARGARET MS on RP121/2026-11-23: 400.00 EUR";
        let m = mask_text(t);
        for gone in [
            "7946",
            "jane.doe",
            "K7Q2LM",
            "0360760481",
            "OKAFOR/MARGARET",
        ] {
            assert!(!m.contains(gone), "{gone} left in {m}");
        }
        for kept in [
            "+** ** **** **58",
            "j***@example.com",
            "***2LM",
            "********81",
            "***/*** MS",
        ] {
            assert!(m.contains(kept), "{kept} missing from {m}");
        }
        // Flights, dates and amounts are not personal.
        assert!(
            m.contains("RP121/2026-11-23") && m.contains("400.00 EUR"),
            "{m}"
        );
        assert_eq!(
            mask_text("delayed 14 h on 23.11.2026"),
            "delayed 14 h on 23.11.2026"
        );
    }

    #[test]
    fn an_interaction_keeps_its_facts_and_loses_its_identifiers() {
        let mut i = Interaction::new(
            rapport_core::InteractionId(1),
            CustomerId(1),
            Timestamp::from_secs(1),
            rapport_core::Channel::Airport,
            rapport_core::InteractionKind::FlightFlown,
        );
        for (k, v) in [
            ("booking_ref", "K7Q2LM"),
            ("bag_tag", "0360760481"),
            ("passenger_name", "OKAFOR/MARGARET MS"),
            ("flight", "RP123"),
            ("seat", "18A"),
        ] {
            i.attributes.insert(k.into(), AttrValue::Text(v.into()));
        }
        i.text = Some("customer on 07700 900123".into());
        mask_interaction(&mut i);
        let text = |k: &str| i.attr_text(k).unwrap().to_string();
        assert_eq!(text("booking_ref"), "***2LM");
        assert_eq!(text("bag_tag"), "*******481");
        assert!(!text("passenger_name").contains("OKAFOR"));
        assert_eq!(text("flight"), "RP123");
        assert_eq!(text("seat"), "18A");
        assert_eq!(i.text.as_deref(), Some("customer on ***** ****23"));
    }

    #[test]
    fn identifiers_are_told_from_names() {
        for q in [
            "jane.doe@example.com",
            "+44 20 7946 0958",
            "07700900123",
            "FF736555692",
            "k7q2lm",
        ] {
            assert!(is_identifier_query(q), "{q}");
        }
        for q in ["Margaret Okafor", "okafor", "Lucía Fernández", "RP121"] {
            assert!(!is_identifier_query(q), "{q}");
        }
    }
}
