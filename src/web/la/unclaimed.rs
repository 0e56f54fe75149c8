use crate::web::Page;

pub fn pages() -> Vec<Page> {
    Vec::new()
}
