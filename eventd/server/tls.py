"""
Mutual TLS for the server's C{ssl:} ports: clients asked for a certificate,
verified against the operator's CA file, and named by it.

Twisted's C{ssl:} server endpoint never asks a client for a certificate.
L{tls_server_endpoint} takes the same string, so an operator's C{--listen}
keeps its meaning, and makes a port that does; L{certificate_user} reads
the name a verified certificate gives its connection, for the access list.
"""

from typing import Optional

from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from OpenSSL.crypto import X509
from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.ssl import Certificate, CertificateOptions, DiffieHellmanParameters
from twisted.python.filepath import FilePath

from eventd.wire.addresses import endpoint_arguments
from eventd.wire.certificates import certificates, private_certificate, read_pem

SSL_ARGUMENTS = (
    "port",
    "privateKey",
    "certKey",
    "sslmethod",
    "interface",
    "backlog",
    "extraCertChain",
    "dhParameters",
)
"""The arguments of Twisted's C{ssl:} server string, in their positional
order (C{twisted.internet.endpoints._parseSSL})."""


def tls_server_endpoint(
    reactor: object, description: str, client_ca: str, required: bool
) -> IStreamServerEndpoint:
    """
    The C{ssl:} port C{description} names, as C{serverFromString} makes it,
    but asking every client for a certificate and verifying one it offers
    against the certificates of the PEM file C{client_ca}.

    @param required: whether a client that offers no certificate is refused
        in the handshake; if not, it connects with no user name.
    @raise ValueError: naming what is wrong, if the string is not an
        C{ssl:} one Twisted would take, or a file it or C{client_ca} names
        is unusable.
    """
    arguments = _ssl_arguments(description)
    try:
        port, backlog = int(arguments["port"]), int(arguments.get("backlog", 50))
    except ValueError:
        raise ValueError(f"{description!r}: the port and backlog must be numbers") from None
    key = arguments.get("privateKey", "server.pem")
    server = private_certificate(arguments.get("certKey", key), key, "server")
    chain = arguments.get("extraCertChain")
    dh = arguments.get("dhParameters")
    options = CertificateOptions(
        privateKey=server.privateKey.original,
        certificate=server.original,
        extraCertChain=_openssl(certificates(chain, "certificate chain file")) if chain else None,
        dhParameters=_dh_parameters(dh) if dh else None,
        method=_method(arguments.get("sslmethod")),
        verify=True,
        caCerts=_openssl(certificates(client_ca, "client CA file")),
        requireCertificate=required,
    )
    _check(options, description)
    return SSL4ServerEndpoint(
        reactor, port, options, backlog=backlog, interface=arguments.get("interface", "")
    )


def certificate_user(transport: object) -> Optional[str]:
    """
    The user a connection's client certificate names: its subject's
    commonName, once the TLS handshake is done (see
    L{twisted.internet.interfaces.IHandshakeListener}).  A certificate is
    there only if the port asked for it, and a port of
    L{tls_server_endpoint} accepts only those it verified.

    @param transport: a protocol's transport; a TLS one (or a wrapper of
        it) has C{getPeerCertificate}, a TCP or UNIX one has not.
    @return: L{None} without TLS, without a certificate, or if the
        certificate has no single commonName to go by.
    """
    certificate = getattr(transport, "getPeerCertificate", lambda: None)()
    if certificate is None:
        return None
    names = certificate.to_cryptography().subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return names[0].value if len(names) == 1 else None


def _ssl_arguments(description: str) -> dict[str, str]:
    """
    The arguments of an C{ssl:} string by name, positional ones named in
    the order of L{SSL_ARGUMENTS}.

    @raise ValueError: if it is not an C{ssl:} string, or has no port, or an
        argument Twisted's C{ssl:} does not take.
    """
    if not description.startswith("ssl:"):
        raise ValueError(f"{description!r}: client certificates are asked for on ssl: ports only")
    positional, named = endpoint_arguments(description.removeprefix("ssl:"))
    arguments = dict(zip(SSL_ARGUMENTS, positional))
    if (
        len(positional) > len(SSL_ARGUMENTS)
        or set(named) - set(SSL_ARGUMENTS)
        or set(named) & set(arguments)
        or "port" not in {**arguments, **named}
    ):
        raise ValueError(
            f"{description!r}: an ssl: endpoint takes a port and only "
            f"{', '.join(SSL_ARGUMENTS[1:])}, each once"
        )
    return {**arguments, **named}


def _openssl(twisted_certificates: list[Certificate]) -> list[X509]:
    """The pyOpenSSL certificates beneath Twisted's, as C{CertificateOptions} takes them."""
    return [certificate.original for certificate in twisted_certificates]


def _dh_parameters(path: str) -> DiffieHellmanParameters:
    """
    The Diffie-Hellman parameters of a PEM file; OpenSSL reads it only when
    the context is made (L{_check} has it made at once).

    @raise ValueError: if it cannot be read.
    """
    read_pem(path, "Diffie-Hellman parameters file")
    return DiffieHellmanParameters.fromFile(FilePath(path))


def _method(name: Optional[str]) -> Optional[int]:
    """
    The OpenSSL method an C{sslmethod=} names, such as C{TLSv1_2_METHOD}:
    Twisted has deprecated it (and warns), but its C{ssl:} strings take it.

    @raise ValueError: if OpenSSL has no such method.
    """
    if name is None:
        return None
    if not name.endswith("_METHOD") or not hasattr(SSL, name):
        raise ValueError(f"sslmethod={name}: OpenSSL has no such method")
    return getattr(SSL, name)


def _check(options: CertificateOptions, description: str) -> None:
    """
    Have OpenSSL take C{options} now, while the operator is told why not in
    one line, rather than at every connection's handshake.

    @raise ValueError: if OpenSSL refuses them (bad Diffie-Hellman
        parameters, say).
    """
    try:
        options.getContext()
    except SSL.Error as e:
        raise ValueError(f"{description!r}: OpenSSL refuses these TLS settings: {e}") from None
