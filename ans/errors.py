"""The project's own error type for bad input: one clear line naming the file and the problem."""


class AnsError(Exception):
    """Bad input or configuration. str(err) is a single line meant for the user."""

    def __init__(self, message: str, path: object | None = None):
        self.path = None if path is None else str(path)
        line = f"{self.path}: {message}" if self.path else message
        super().__init__(" ".join(line.split()))  # always one line


def reason(e: BaseException) -> str:
    """First line of an I/O error, without libsndfile's "Error opening <_io.BytesIO object at 0x..>: "
    (the caller names the input itself)."""
    import re

    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return re.sub(r"Error opening (<[^>]*>|'[^']*'|\S+): ?", "", msg).strip() or type(e).__name__
