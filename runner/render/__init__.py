"""Renderers: markdown retrospectives (Jinja2), JUnit XML, the console. They read results; they
never change a run."""
