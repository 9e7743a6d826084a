//! The booking invitation (`notifications::ics::invitation`) with arbitrary
//! names, addresses and times, checked against RFC 5545's content-line grammar.
//!
//! Whatever a customer or a business types, the `.ics` must stay one calendar
//! with one event: CRLF line ends only, physical lines of at most 75 octets,
//! folded lines continued by one space, every content line `name *(;param)
//! :value` with no control characters, parameter values quoted where they hold
//! `:`, `;` or `,` and never holding `"`; exactly the properties the generator
//! writes (no line or parameter injected by a name), and the SUMMARY text
//! reading back exactly when it can be represented at all.

use arbitrary::{Result, Unstructured};
use chrono::{DateTime, Utc};
use notifications::ics::{Method, invitation};
use notifications::payload::{BookingSnapshot, EmailPayload, Role, SnapshotCustomer};

/// Writes an invitation from strings and times built from `data` and checks the text.
///
/// # Panics
/// When the generator panics or writes text that is not the one event it should be.
pub fn ics(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok((payload, booking, method, organizer)) = build(&mut u) else { return };
    let text = invitation(&payload, &booking, method, &organizer);
    let lines = content_lines(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check_structure(&lines, &payload, &booking).unwrap_or_else(|e| panic!("{e}\n{text}"));
}

/// Pieces that matter to the grammar, mixed into arbitrary text.
const PIECES: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    "\"",
    ";",
    ":",
    ",",
    "\\",
    " ",
    "\t",
    "é",
    "日本",
    "😀",
    "\u{7f}",
    "\0",
    "ATTENDEE:mailto:x@y",
    "BEGIN:VEVENT",
    "END:VCALENDAR",
    "a@b.example",
    "^",
];

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let mut out = String::new();
    for _ in 0..u.int_in_range(0..=4)? {
        if u.arbitrary()? {
            out.push_str(u.choose(PIECES)?);
        } else {
            let s: &str = u.arbitrary()?;
            out.push_str(s);
        }
    }
    Ok(out)
}

fn instant(u: &mut Unstructured<'_>) -> Result<DateTime<Utc>> {
    // Years 0000 to 9999: what an RFC 3339 timestamp can carry.
    let secs = u.int_in_range(-62_167_219_200i64..=253_402_300_799)?;
    Ok(DateTime::from_timestamp(secs, 0).expect("in range"))
}

fn build(u: &mut Unstructured<'_>) -> Result<(EmailPayload, BookingSnapshot, Method, String)> {
    let start = instant(u)?;
    let booking = BookingSnapshot {
        id: text(u)?,
        status: "confirmed".into(),
        employee_id: "e".into(),
        start,
        end: start + chrono::Duration::minutes(u.int_in_range(1..=600)?),
        sequence: u.arbitrary()?,
        customer: SnapshotCustomer { name: text(u)?, email: text(u)?, timezone: None },
        cancel_reason: None,
        updated_at: instant(u)?,
    };
    let payload = EmailPayload {
        role: if u.arbitrary()? { Role::Customer } else { Role::Employee },
        recipient_name: text(u)?,
        timezone: "Europe/Berlin".into(),
        business_name: text(u)?,
        service_name: text(u)?,
        employee_name: text(u)?,
        employee_email: text(u)?,
        booking: None,
    };
    let method = if u.arbitrary()? { Method::Request } else { Method::Cancel };
    Ok((payload, booking, method, text(u)?))
}

/// One unfolded content line.
#[derive(Debug)]
struct Line {
    name: String,
    params: Vec<(String, Vec<String>)>,
    value: String,
}

fn is_control(c: char) -> bool {
    (c < ' ' && c != '\t') || c == '\u{7f}'
}

/// Splits, checks and unfolds the physical lines, then parses each content line.
fn content_lines(text: &str) -> std::result::Result<Vec<Line>, String> {
    let body = text.strip_suffix("\r\n").ok_or("the text does not end with CRLF")?;
    let mut logical: Vec<String> = Vec::new();
    for (i, physical) in body.split("\r\n").enumerate() {
        if physical.contains(['\r', '\n']) {
            return Err(format!("line {i}: bare CR or LF: {physical:?}"));
        }
        if physical.len() > 75 {
            return Err(format!("line {i}: {} octets, more than 75: {physical:?}", physical.len()));
        }
        match physical.strip_prefix([' ', '\t']) {
            Some(rest) => logical.last_mut().ok_or("the text starts with a continuation line")?.push_str(rest),
            None => logical.push(physical.to_owned()),
        }
    }
    logical.iter().map(|l| parse_line(l).map_err(|e| format!("{e}: {l:?}"))).collect()
}

fn parse_line(line: &str) -> std::result::Result<Line, String> {
    let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).ok_or("no ':' after the name")?;
    let (name, mut rest) = line.split_at(name_end);
    if name.is_empty() {
        return Err("empty property name".into());
    }
    let mut params = Vec::new();
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after.find('=').ok_or("parameter without '='")?;
        let pname = &after[..eq];
        if pname.is_empty() || !pname.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad parameter name {pname:?}"));
        }
        rest = &after[eq + 1..];
        let mut values = Vec::new();
        loop {
            if let Some(quoted) = rest.strip_prefix('"') {
                let close = quoted.find('"').ok_or("unterminated quoted parameter value")?;
                let v = &quoted[..close];
                if v.chars().any(is_control) {
                    return Err("control character in a quoted parameter value".into());
                }
                values.push(v.to_owned());
                rest = &quoted[close + 1..];
            } else {
                let end = rest.find([';', ':', ',', '"']).unwrap_or(rest.len());
                let v = &rest[..end];
                if v.chars().any(is_control) {
                    return Err("control character in a parameter value".into());
                }
                values.push(v.to_owned());
                rest = &rest[end..];
            }
            match rest.strip_prefix(',') {
                Some(r) => rest = r,
                None => break,
            }
        }
        params.push((pname.to_ascii_uppercase(), values));
    }
    let value = rest.strip_prefix(':').ok_or("no ':' before the value")?;
    if value.chars().any(is_control) {
        return Err("control character in the value".into());
    }
    Ok(Line { name: name.to_ascii_uppercase(), params, value: value.to_owned() })
}

/// Reads a TEXT value back, refusing unescaped `;`, `,` and unknown escapes.
fn unescape_text(value: &str) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some(';') => out.push(';'),
                Some(',') => out.push(','),
                Some('n' | 'N') => out.push('\n'),
                other => return Err(format!("bad escape \\{other:?}")),
            },
            ';' | ',' => return Err(format!("unescaped {c:?} in TEXT")),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn check_structure(
    lines: &[Line],
    payload: &EmailPayload,
    booking: &BookingSnapshot,
) -> std::result::Result<(), String> {
    let names: Vec<String> = lines
        .iter()
        .map(|l| if l.name == "BEGIN" || l.name == "END" { format!("{}:{}", l.name, l.value) } else { l.name.clone() })
        .collect();
    let count = |n: &str| names.iter().filter(|x| *x == n).count();
    if names.first().map(String::as_str) != Some("BEGIN:VCALENDAR")
        || names.last().map(String::as_str) != Some("END:VCALENDAR")
    {
        return Err("not one VCALENDAR".into());
    }
    for (name, want) in [
        ("BEGIN:VCALENDAR", 1),
        ("END:VCALENDAR", 1),
        ("BEGIN:VEVENT", 1),
        ("END:VEVENT", 1),
        ("METHOD", 1),
        ("UID", 1),
        ("SUMMARY", 1),
        ("DESCRIPTION", 1),
        ("ORGANIZER", 1),
        ("ATTENDEE", 2),
        ("DTSTART", 1),
        ("DTEND", 1),
        ("DTSTAMP", 1),
        ("SEQUENCE", 1),
        ("STATUS", 1),
    ] {
        if count(name) != want {
            return Err(format!("{} {name} lines, expected {want}", count(name)));
        }
    }
    for line in lines {
        let param_names: Vec<&str> = line.params.iter().map(|(n, _)| n.as_str()).collect();
        let expected: &[&str] = match line.name.as_str() {
            "ATTENDEE" => &["CN", "ROLE"],
            "ORGANIZER" => &["CN"],
            _ => &[],
        };
        let mut sorted = param_names.clone();
        sorted.sort_unstable();
        if sorted != expected {
            return Err(format!("{} has parameters {param_names:?}, expected {expected:?}", line.name));
        }
        if let Some((_, values)) = line.params.iter().find(|(n, _)| n == "CN") {
            if values.len() != 1 {
                return Err(format!("{}: CN split into {} values {values:?}", line.name, values.len()));
            }
        }
        if let Some((_, values)) = line.params.iter().find(|(n, _)| n == "ROLE") {
            if values != &["REQ-PARTICIPANT"] {
                return Err(format!("{}: ROLE is {values:?}", line.name));
            }
        }
        if matches!(line.name.as_str(), "SUMMARY" | "DESCRIPTION") {
            unescape_text(&line.value).map_err(|e| format!("{}: {e}", line.name))?;
        }
    }
    let summary = lines.iter().find(|l| l.name == "SUMMARY").expect("counted above");
    let want = format!("{} with {}", payload.service_name, payload.employee_name);
    if !want.chars().any(|c| is_control(c) && c != '\n') {
        let got = unescape_text(&summary.value).expect("checked above");
        if got != want {
            return Err(format!("SUMMARY reads back as {got:?}, written {want:?}"));
        }
    }
    for (name, at) in [("DTSTART", booking.start), ("DTEND", booking.end)] {
        let line = lines.iter().find(|l| l.name == name).expect("counted above");
        let want = at.format("%Y%m%dT%H%M%SZ").to_string();
        if line.value != want {
            return Err(format!("{name} is {:?}, expected {want:?}", line.value));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_accepts_plain_lines_and_refuses_injection() {
        let ok = content_lines("BEGIN:VCALENDAR\r\nATTENDEE;CN=\"a;b\";ROLE=X:mailto:a@b\r\n FOLDED\r\n").unwrap();
        assert_eq!(ok[1].params[0].1, ["a;b"]);
        assert_eq!(ok[1].value, "mailto:a@bFOLDED");
        assert!(content_lines("X:a\rb\r\n").is_err());
        assert!(content_lines(&format!("X:{}\r\n", "a".repeat(80))).is_err());
        assert!(parse_line("X;CN=\"a\"b\":v").is_err());
        assert_eq!(unescape_text(r"a\,b\;c\nd\\").unwrap(), "a,b;c\nd\\");
        assert!(unescape_text("a,b").is_err());
    }
}
