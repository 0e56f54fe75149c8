//! The pages of the LA's teams: collecting many files at once, the census collection, checking
//! files and their routing, the quarantine, distributions, FSM turnaround and unclaimed files.
//! Each page still asks the policy; the navigation only hides what a school could not use.

mod batches;
mod collect;
mod collection;
mod distributions;
mod fsm;
mod quarantine;
mod unclaimed;

use super::Page;

pub fn pages() -> Vec<Page> {
    [
        collect::pages(),
        collection::pages(),
        batches::pages(),
        quarantine::pages(),
        distributions::pages(),
        fsm::pages(),
        unclaimed::pages(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
