"""Assertions on exercise checkers' outcomes (``workbench.core.exercises.Check``)."""


def assert_right(check):
    """A ✓: truthy, ok, and the message says so."""
    assert check and check.ok and check.message.startswith("✓"), check.message


def assert_wrong(check, *words):
    """A ✗ (falsy, never an exception) whose message contains every one of ``words``."""
    assert not check and check.message.startswith("✗"), check.message
    for w in words:
        assert w in check.message, (w, check.message)
