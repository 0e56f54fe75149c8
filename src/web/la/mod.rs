use super::Page;

pub fn pages() -> Vec<Page> {
    Vec::new()
}
