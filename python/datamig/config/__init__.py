"""Loading and checking config/datamig.yaml."""
from .loader import DEFAULT_CONFIG_PATH, load_config
from .model import Config, DistrictRoot, GraphConfig, Link, StoreConfig
from .neo4j_url import NEO4J_SCHEMES, check_neo4j_url, check_neo4j_urls

__all__ = ["DEFAULT_CONFIG_PATH", "load_config", "Config", "DistrictRoot", "GraphConfig", "Link", "StoreConfig",
           "NEO4J_SCHEMES", "check_neo4j_url", "check_neo4j_urls"]
