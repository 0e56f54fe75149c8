use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SchoolUser,
    SchoolAdmin,
    LaUser,
    LaAdmin,
    SystemAdmin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::SchoolUser, Role::SchoolAdmin, Role::LaUser, Role::LaAdmin, Role::SystemAdmin];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::SchoolUser => "school_user",
            Role::SchoolAdmin => "school_admin",
            Role::LaUser => "la_user",
            Role::LaAdmin => "la_admin",
            Role::SystemAdmin => "system_admin",
        }
    }

    /// Roles held by people in a school; the others belong to LA teams or the system.
    pub fn is_school_role(&self) -> bool {
        matches!(self, Role::SchoolUser | Role::SchoolAdmin)
    }

    /// LA staff and system administrators must use a second factor.
    pub fn requires_totp(&self) -> bool {
        matches!(self, Role::LaUser | Role::LaAdmin | Role::SystemAdmin)
    }

    /// Administers the whole register (schools, teams, users, keys).
    pub fn is_la_admin(&self) -> bool {
        matches!(self, Role::LaAdmin | Role::SystemAdmin)
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!("'{s}' is not a role: use school_user, school_admin, la_user, la_admin or system_admin")
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Asked for by a school administrator, waiting for an LA administrator's approval.
    Requested,
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            UserStatus::Requested => "requested",
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "requested" => Some(Self::Requested),
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A login name: 3 to 64 of letters, digits, '.', '-', '_' and '@' (so e-mail addresses work),
/// compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a usable username: use 3 to 64 letters, digits, '.', '-', '_' or '@'")]
pub struct InvalidUsername(pub String);

impl FromStr for Username {
    type Err = InvalidUsername;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (3..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@'))
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(InvalidUsername(s.to_owned()))
        }
    }
}

impl Username {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A function within an organisation, such as `finance` or `data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionSlug(String);

impl FunctionSlug {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (2..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FunctionSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_insensitive_and_plain() {
        assert_eq!("Jo.Bloggs".parse::<Username>().unwrap().as_str(), "jo.bloggs");
        assert!("jo@school.example".parse::<Username>().is_ok());
        for bad in ["jo", "jo bloggs", ".jo", "jo/../x", "jö", &"a".repeat(65)] {
            assert!(bad.parse::<Username>().is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_round_trip_and_only_la_roles_need_totp() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!(!Role::SchoolUser.requires_totp());
        assert!(Role::LaUser.requires_totp() && Role::SystemAdmin.requires_totp());
    }
}
