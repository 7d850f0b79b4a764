//! The SMTP receiver of these tests is `authkit_testkit::smtp` (a real SMTP server on
//! 127.0.0.1, shared with authkit-smtp's tests); re-exported here so that the tests keep
//! naming `common::smtp`.
#[allow(unused_imports, reason = "each test binary uses a different part")]
pub(crate) use authkit_testkit::smtp::*;
