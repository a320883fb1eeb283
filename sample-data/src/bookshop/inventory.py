"""Stock levels for every title on the shelves."""

from dataclasses import dataclass, field


@dataclass
class Book:
    isbn: str
    title: str
    author: str
    price_cents: int
    stock: int = 0
    tags: list[str] = field(default_factory=list)


class Inventory:
    """In-memory stock, keyed by ISBN."""

    def __init__(self) -> None:
        self._books: dict[str, Book] = {}

    def add(self, book: Book) -> None:
        if book.isbn in self._books:
            self._books[book.isbn].stock += book.stock
        else:
            self._books[book.isbn] = book

    def reserve(self, isbn: str, quantity: int) -> bool:
        """Take `quantity` copies off the shelf; False if there are not enough."""
        book = self._books.get(isbn)
        if book is None or book.stock < quantity:
            return False
        book.stock -= quantity
        return True

    def low_stock(self, threshold: int = 3) -> list[Book]:
        # TODO: make the threshold configurable per category
        return sorted(
            (b for b in self._books.values() if b.stock <= threshold),
            key=lambda b: b.stock,
        )
