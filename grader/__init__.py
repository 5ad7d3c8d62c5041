"""grader: grades concurrent network servers and gevent scripts from the outside."""

__version__ = "0.1.0"
