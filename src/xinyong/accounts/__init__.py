"""Subject accounts: a data subject's own login to the platform (enrolment, password, sessions)."""
