//! The conformance suite's blocking scenarios through the thread binding's
//! verbs (`call_blocking`, `acquire_blocking`), parking on virtual time.

failsafe_conformance::blocking_suite!(failsafe_conformance::VirtualTime::new());
