//! A channel's rules in words, from the catalogue: what kind of file, how large, how it must be
//! named, and where it goes.

use crate::domain::channel::{Channel, NameRule, Recipients, Route};
use crate::domain::OrgRef;
use crate::policy::Principal;
use crate::web::format;

/// "XML or ZIP, up to 500 MB, the file name must carry your DfE number 8252001".
pub fn in_words(channel: &Channel, route: Option<&Route>, max_bytes: u64, who: &Principal) -> String {
    let mut parts =
        vec![if channel.extensions.is_empty() { "any kind of file".to_owned() } else { kinds(&channel.extensions) }];
    if max_bytes < u64::MAX {
        parts.push(format!("up to {}", format::size(max_bytes)));
    }
    if channel.name_rule == NameRule::OwnDfeNumber {
        parts.push(match &who.org.reference {
            OrgRef::School(own) => format!("the file name must carry your DfE number {}", own.compact()),
            _ => "the file name must carry the sending school's DfE number".to_owned(),
        });
    }
    if let Some(route) = route {
        parts.push(destination(route));
    }
    if channel.messages {
        parts.push("a message can go without a file".to_owned());
    }
    let joined = parts.join(", ");
    let mut chars = joined.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => joined,
    }
}

/// Where the caller's files go on this route.
pub fn destination(route: &Route) -> String {
    match &route.to {
        Recipients::Team(slug) => format!("files go to the LA team {slug}"),
        Recipients::ExplicitSchool => "you choose the school".to_owned(),
        Recipients::ExplicitTeam => "you choose the LA team".to_owned(),
        Recipients::Explicit => "you choose the school or LA team".to_owned(),
        Recipients::NamedSchool => "each file goes to the school whose DfE number or URN starts its name".to_owned(),
        Recipients::Group => "you choose the schools: all, a phase, or a list".to_owned(),
        Recipients::Reply => "you answer a request from its page".to_owned(),
    }
}

/// "XML or ZIP", "PDF, CSV or XLSX".
fn kinds(extensions: &[String]) -> String {
    let upper: Vec<String> = extensions.iter().map(|e| e.to_uppercase()).collect();
    match upper.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The `accept` attribute of a file input for the channel, so the file chooser offers the
/// right kinds first; the server still checks.
pub fn accept_attribute(channel: &Channel) -> String {
    channel.extensions.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::kinds;

    #[test]
    fn kinds_are_listed_as_a_person_would_say_them() {
        assert_eq!(kinds(&["xml".into(), "zip".into()]), "XML or ZIP");
        assert_eq!(kinds(&["pdf".into(), "csv".into(), "xlsx".into()]), "PDF, CSV or XLSX");
        assert_eq!(kinds(&["csv".into()]), "CSV");
    }
}
