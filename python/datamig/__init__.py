"""datamig: copy one school district from PROD to CERT, anonymized, referentially complete, tested."""

__version__ = "0.1.0"
