//! Turns a policy decision into a use case's result, the same way everywhere.

use super::ServiceError;
use crate::policy::Decision;

/// Allow, or the error that matches the refusal. `Invalid` decisions carry a rule the caller
/// explains in its own words, so they arrive here only by mistake and are refused plainly.
pub fn enforce(decision: Decision) -> Result<(), ServiceError> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Hidden => Err(ServiceError::NotFound),
        Decision::Forbidden => Err(ServiceError::Forbidden),
        Decision::StepRequired(step) => Err(ServiceError::StepRequired(step)),
        Decision::Invalid(code) => Err(ServiceError::unprocessable(code, "this request breaks a rule of the exchange")),
        Decision::Refused(why) => Err(ServiceError::Refused { code: why.code(), message: why.message().into() }),
        Decision::ChannelOff => Err(ServiceError::Refused {
            code: "channel_off",
            message: "the LA has switched this channel off for now: nothing was kept; GET /api/v1/channels shows which channels are open, or ask the LA when this one opens".into(),
        }),
    }
}
