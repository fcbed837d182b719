"""YAML recipes shipped as package data; read them with importlib.resources."""
