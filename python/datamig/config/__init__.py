"""Loading and checking config/datamig.yaml."""
from .loader import DEFAULT_CONFIG_PATH, load_config
from .model import Config, DistrictRoot, GraphConfig, Link, StoreConfig

__all__ = ["DEFAULT_CONFIG_PATH", "load_config", "Config", "DistrictRoot", "GraphConfig", "Link", "StoreConfig"]
