"""The local decomposition server (``layerdecomp serve``), its Python client and its wire protocol.

The folder is ``server/``; it installs as ``layerdecomp_server`` (see pyproject.toml). It imports the
core library (``layerdecomp``); the core never imports it. ``layerdecomp_server.protocol`` is the sans-I/O
protocol module (pure standard library) that the server, the Python client (``layerdecomp_server.client``)
and the Krita plugin share. This package imports nothing on its own, so importing the protocol never pulls
in numpy or websockets.
"""
