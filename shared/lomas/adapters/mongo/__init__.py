from lomas.adapters.mongo.store import MongoStore

__all__ = ["MongoStore"]
