"""The analyst console: a web application over Nigran's gRPC API, with the user's own token.

It holds no data of its own and talks to the service only through the API
(``service/api/convert.py`` both ways, as the ``nigran`` CLI does), so every
page sees exactly what the token's role may see, and every change it makes
is audited under that token's name. ``python -m service.console`` (or
``make console``) starts it.
"""
