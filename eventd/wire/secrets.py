"""
Secrets from files: a passphrase or a password is read from a file (or a
systemd credential, which is one), never taken from a command line, where
every user of the host can read it in C{ps}.
"""


def first_line(path: str) -> str:
    """
    The secret a file holds: its first line, without the line's end.

    @raise ValueError: naming the file, if it cannot be read or its first
        line is empty.  The message never quotes the file.
    """
    try:
        with open(path, encoding="utf-8") as file:
            line = file.readline().rstrip("\r\n")
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    if not line:
        raise ValueError(f"{path}: its first line is empty")
    return line
