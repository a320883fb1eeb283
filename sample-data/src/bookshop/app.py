"""Tiny HTTP front door for the storefront."""

from http.server import BaseHTTPRequestHandler, HTTPServer
import json

from .inventory import Book, Inventory
from .pricing import member_price

INVENTORY = Inventory()
INVENTORY.add(Book("9780141439518", "Pride and Prejudice", "Jane Austen", 899, stock=4))
INVENTORY.add(Book("9780553386790", "A Game of Thrones", "George R. R. Martin", 1299, stock=2))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/api/low-stock":
            self.send_error(404)
            return
        body = json.dumps([b.title for b in INVENTORY.low_stock()]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    print("member price example:", member_price(1299, is_member=True))
    HTTPServer(("127.0.0.1", 8080), Handler).serve_forever()


if __name__ == "__main__":
    main()
