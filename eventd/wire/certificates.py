"""
Certificates and keys from PEM files, for both ends of a TLS connection: a
client's CA file and its own certificate, the server's certificate and the
CAs it trusts for clients.

Each reader fails with a one-line L{ValueError} naming the file and what
is wrong with it, since an operator sees the message, not a traceback.
"""

from typing import Optional

from twisted.internet.ssl import Certificate, PrivateCertificate, trustRootFromCertificates

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def read_pem(path: str, what: str) -> bytes:
    """
    The content of the file C{what} (e.g. C{"CA file"}) at C{path}.

    @raise ValueError: if it cannot be read.
    """
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as e:
        raise ValueError(f"cannot read the {what} {path}: {e.strerror}") from None


def certificates(path: str, what: str) -> list[Certificate]:
    """
    Every certificate of a PEM file (one or several).

    @param what: what the file is, for the error: C{"CA file"}.
    @raise ValueError: if it cannot be read or holds no certificate.
    """
    pem = read_pem(path, what)
    blocks = [PEM_CERTIFICATE + block for block in pem.split(PEM_CERTIFICATE)[1:]]
    if not blocks:
        raise ValueError(f"the {what} {path} holds no PEM certificate")
    try:
        return [Certificate.loadPEM(block) for block in blocks]
    except Exception as e:
        raise ValueError(f"the {what} {path} holds a certificate OpenSSL refuses: {e}") from None


def trust_root(path: str):
    """
    The certificate authorities of a PEM file, to verify a server with.

    @return: the C{trustRoot} of L{twisted.internet.ssl.optionsForClientTLS}
        (Twisted keeps its interface private, hence no annotation).
    @raise ValueError: if it cannot be read or holds no certificate.
    """
    return trustRootFromCertificates(certificates(path, "CA file"))


def private_certificate(certificate: str, key: Optional[str], owner: str) -> PrivateCertificate:
    """
    A certificate and its private key, from PEM files; the key may be in
    the certificate's file (C{key} L{None} or the same path).

    @param owner: whose they are, for the error: C{"client"} or C{"server"}.
    @raise ValueError: if a file cannot be read, or the two are not a key
        and the certificate of its public key.
    """
    together = key in (None, certificate)
    pem = read_pem(certificate, f"{owner} {'certificate and key' if together else 'certificate'}")
    if not together:
        pem += b"\n" + read_pem(key, f"{owner} key")
    try:
        return PrivateCertificate.loadPEM(pem)
    except Exception as e:
        its_key = "its key" if together else f"its key {key}"
        raise ValueError(
            f"the {owner} certificate {certificate} and {its_key} are not a PEM pair OpenSSL "
            f"takes: {e}"
        ) from None
