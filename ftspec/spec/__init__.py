"""The front end: parse, lower, compose, validate and check a spec, and print it back (fmt, reference).

Everything here works on the text and the files it names; nothing plans or writes."""
