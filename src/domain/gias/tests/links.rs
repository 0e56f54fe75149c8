use super::{date, reasons};
use crate::domain::gias::{parse_links, GiasError, LinkDirection};

const FIXTURE: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/links.csv"));

#[test]
fn reads_the_fixture_in_both_directions() {
    let (links, rejected) = parse_links(FIXTURE).unwrap();
    assert_eq!(links.len(), 13);
    let count = |d: LinkDirection| links.iter().filter(|l| l.direction == d).count();
    assert_eq!(count(LinkDirection::Successor), 5);
    assert_eq!(count(LinkDirection::Predecessor), 6);
    assert_eq!(count(LinkDirection::Other), 2);
    let amalgamated = links.iter().find(|l| (l.urn, l.link_urn) == (990021, 990019));
    let amalgamated = amalgamated.unwrap();
    assert_eq!(amalgamated.direction, LinkDirection::Predecessor);
    assert_eq!(amalgamated.link_type, "Predecessor - amalgamated");
    assert_eq!(amalgamated.link_name, "Elmwood Infant School");
    assert_eq!(amalgamated.established, Some(date(1, 9, 2023)));
    let undated = links.iter().find(|l| l.urn == 990014).unwrap();
    assert_eq!(undated.established, None);
    assert_eq!(reasons(&rejected), ["links line 15 (URN 990003): LinkURN is empty"]);
}

#[test]
fn classifies_link_types_by_their_first_word() {
    let text = "LinkType,URN,LinkURN,LinkName,LinkEstablishedDate,Extra\n\
        Predecessor - Split School,100001,100002,A,,\n\
        successor - merged,100001,100003,B,,\n\
        Sixth Form Centre Link,100001,100004,C,,\n\
        Other,100001,100005,D,,\n";
    let (links, rejected) = parse_links(text.as_bytes()).unwrap();
    assert_eq!(rejected, []);
    let directions: Vec<LinkDirection> = links.iter().map(|l| l.direction).collect();
    use LinkDirection::*;
    assert_eq!(directions, [Predecessor, Successor, Other, Other]);
}

#[test]
fn refuses_bad_rows_and_files() {
    let text = "URN,LinkURN,LinkName,LinkType,LinkEstablishedDate\n\
        100001,100001,Self,Predecessor,\n\
        abc,100002,A,Successor,32-01-2020\n";
    let (links, rejected) = parse_links(text.as_bytes()).unwrap();
    assert_eq!(links, []);
    assert_eq!(
        reasons(&rejected),
        [
            "links line 2 (URN 100001): LinkURN is the row's own URN 100001: a school cannot \
             follow itself",
            "links line 3 (URN abc): URN 'abc' is not a URN (a whole number such as 100001); \
             LinkEstablishedDate '32-01-2020' is not a date written dd-mm-yyyy",
        ]
    );
    let err = parse_links(b"URN,LinkURN,LinkName\r\n1,2,x\r\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the links file has no column 'LinkType', 'LinkEstablishedDate': is it the GIAS links \
         export (links_edubasealldata*.csv)?"
    );
    assert_eq!(parse_links(b""), Err(GiasError::Empty { file: "links" }));
}
