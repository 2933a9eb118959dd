"""Small key/value facts learned at run time, e.g. the bot username from getMe."""

from sqlalchemy import Connection, select

from chidoan.storage.models import Setting, table

T = table(Setting)


class KeyValues:
    def __init__(self, conn: Connection):
        self.conn = conn

    def get(self, key: str) -> str | None:
        return self.conn.execute(select(T.c.value).where(T.c.key == key)).scalar()

    def put(self, key: str, value: str) -> None:
        if self.get(key) is None:
            self.conn.execute(T.insert().values(key=key, value=value))
        else:
            self.conn.execute(T.update().where(T.c.key == key).values(value=value))
