-- Corner Bookshop: the shop's sales database, the SQL source of bookshop.db.
-- Deterministic: rebuilding gives the same rows. Rebuild with
--   rm -f bookshop.db && sqlite3 bookshop.db < bookshop.sql
-- (the test suite checks that bookshop.db holds exactly what this file builds).

PRAGMA foreign_keys = ON;
PRAGMA user_version = 1;

CREATE TABLE authors (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    country     TEXT NOT NULL,
    born        INTEGER
);

CREATE TABLE books (
    id          INTEGER PRIMARY KEY,
    isbn        TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    author_id   INTEGER NOT NULL REFERENCES authors(id),
    genre       TEXT NOT NULL CHECK (genre IN ('fiction', 'fantasy', 'science fiction', 'mystery', 'poetry', 'history', 'science', 'children')),
    published   INTEGER NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    stock       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX books_author ON books(author_id);
CREATE INDEX books_genre ON books(genre);

CREATE TABLE customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    city        TEXT NOT NULL,
    member      INTEGER NOT NULL DEFAULT 0 CHECK (member IN (0, 1)),
    joined      TEXT NOT NULL
);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    placed_at   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('placed', 'shipped', 'delivered', 'returned'))
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_placed_at ON orders(placed_at);

CREATE TABLE order_items (
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    book_id     INTEGER NOT NULL REFERENCES books(id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_cents  INTEGER NOT NULL,
    PRIMARY KEY (order_id, book_id)
) WITHOUT ROWID;
CREATE INDEX order_items_book ON order_items(book_id);

CREATE VIEW book_sales AS
SELECT b.id AS book_id, b.title, a.name AS author,
       coalesce(sum(i.quantity), 0) AS copies_sold,
       coalesce(sum(i.quantity * i.unit_cents), 0) AS revenue_cents
FROM books b
JOIN authors a ON a.id = b.author_id
LEFT JOIN (order_items i JOIN orders o ON o.id = i.order_id AND o.status <> 'returned')
       ON i.book_id = b.id
GROUP BY b.id;

INSERT INTO authors (id, name, country, born) VALUES
    (1, 'Jane Austen', 'United Kingdom', 1775),
    (2, 'George R. R. Martin', 'United States', 1948),
    (3, 'Chimamanda Ngozi Adichie', 'Nigeria', 1977),
    (4, 'Haruki Murakami', 'Japan', 1949),
    (5, 'Gabriel García Márquez', 'Colombia', 1927),
    (6, 'Ursula K. Le Guin', 'United States', 1929),
    (7, 'Agatha Christie', 'United Kingdom', 1890),
    (8, 'Wisława Szymborska', 'Poland', 1923),
    (9, 'Yuval Noah Harari', 'Israel', 1976),
    (10, 'Carl Sagan', 'United States', 1934),
    (11, 'Astrid Lindgren', 'Sweden', 1907),
    (12, 'Fyodor Dostoevsky', 'Russia', 1821),
    (13, 'Toni Morrison', 'United States', 1931),
    (14, 'Liu Cixin', 'China', 1963),
    (15, 'Elena Ferrante', 'Italy', NULL),
    (16, 'Jorge Luis Borges', 'Argentina', 1899),
    (17, 'Mary Beard', 'United Kingdom', 1955),
    (18, 'Terry Pratchett', 'United Kingdom', 1948),
    (19, 'Naguib Mahfouz', 'Egypt', 1911),
    (20, 'Tove Jansson', 'Finland', 1914);

-- Ten titles per author, in a stable order. Titles are numbered per author ("Collected Works
-- Vol. 3") apart from the famous first two, which are real.
CREATE TEMP TABLE famous (author_id INTEGER, n INTEGER, title TEXT, genre TEXT, published INTEGER);
INSERT INTO famous VALUES
    (1, 1, 'Pride and Prejudice', 'fiction', 1813), (1, 2, 'Emma', 'fiction', 1815),
    (2, 1, 'A Game of Thrones', 'fantasy', 1996), (2, 2, 'A Clash of Kings', 'fantasy', 1998),
    (3, 1, 'Half of a Yellow Sun', 'fiction', 2006), (3, 2, 'Americanah', 'fiction', 2013),
    (4, 1, 'Norwegian Wood', 'fiction', 1987), (4, 2, 'Kafka on the Shore', 'fiction', 2002),
    (5, 1, 'Cien años de soledad', 'fiction', 1967), (5, 2, 'El amor en los tiempos del cólera', 'fiction', 1985),
    (6, 1, 'A Wizard of Earthsea', 'fantasy', 1968), (6, 2, 'The Left Hand of Darkness', 'science fiction', 1969),
    (7, 1, 'Murder on the Orient Express', 'mystery', 1934), (7, 2, 'And Then There Were None', 'mystery', 1939),
    (8, 1, 'Widok z ziarnkiem piasku', 'poetry', 1996), (8, 2, 'Koniec i początek', 'poetry', 1993),
    (9, 1, 'Sapiens', 'history', 2011), (9, 2, 'Homo Deus', 'history', 2015),
    (10, 1, 'Cosmos', 'science', 1980), (10, 2, 'Pale Blue Dot', 'science', 1994),
    (11, 1, 'Pippi Långstrump', 'children', 1945), (11, 2, 'Ronja rövardotter', 'children', 1981),
    (12, 1, 'Преступление и наказание', 'fiction', 1866), (12, 2, 'Братья Карамазовы', 'fiction', 1880),
    (13, 1, 'Beloved', 'fiction', 1987), (13, 2, 'Song of Solomon', 'fiction', 1977),
    (14, 1, '三体', 'science fiction', 2008), (14, 2, 'The Dark Forest', 'science fiction', 2008),
    (15, 1, 'L''amica geniale', 'fiction', 2011), (15, 2, 'Storia del nuovo cognome', 'fiction', 2012),
    (16, 1, 'Ficciones', 'fiction', 1944), (16, 2, 'El Aleph', 'fiction', 1949),
    (17, 1, 'SPQR', 'history', 2015), (17, 2, 'Women & Power', 'history', 2017),
    (18, 1, 'Guards! Guards!', 'fantasy', 1989), (18, 2, 'Small Gods', 'fantasy', 1992),
    (19, 1, 'بين القصرين', 'fiction', 1956), (19, 2, 'Children of the Alley', 'fiction', 1959),
    (20, 1, 'Trollkarlens hatt', 'children', 1948), (20, 2, 'Sommarboken', 'fiction', 1972);

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10)
INSERT INTO books (id, isbn, title, author_id, genre, published, price_cents, stock)
SELECT (a.id - 1) * 10 + n.i,
       '978' || printf('%010d', 1000000 + a.id * 7919 + n.i * 104729),
       coalesce(f.title, (SELECT title FROM famous WHERE author_id = a.id AND n = 1) || ': Collected Works Vol. ' || (n.i - 2)),
       a.id,
       coalesce(f.genre, (SELECT genre FROM famous WHERE author_id = a.id AND n = 1)),
       coalesce(f.published, 1990 + (a.id * 3 + n.i * 5) % 35),
       499 + ((a.id * 37 + n.i * 53) % 30) * 100,
       (a.id * 11 + n.i * 7) % 13
FROM authors a CROSS JOIN n
LEFT JOIN famous f ON f.author_id = a.id AND f.n = n.i
ORDER BY 1;

CREATE TEMP TABLE first_names (i INTEGER PRIMARY KEY, name TEXT, ascii TEXT);
INSERT INTO first_names (name, ascii) VALUES
    ('Ada', 'Ada'), ('Björn', 'Bjorn'), ('Chloé', 'Chloe'), ('Dmitri', 'Dmitri'),
    ('Emeka', 'Emeka'), ('Fatima', 'Fatima'), ('Giulia', 'Giulia'), ('Hiroshi', 'Hiroshi'),
    ('Ingrid', 'Ingrid'), ('José', 'Jose'), ('Kwame', 'Kwame'), ('Lena', 'Lena'),
    ('Mateo', 'Mateo'), ('Nora', 'Nora'), ('Olu', 'Olu'), ('Priya', 'Priya'),
    ('Quentin', 'Quentin'), ('Rosa', 'Rosa'), ('Sven', 'Sven'), ('Tomás', 'Tomas'), ('Uma', 'Uma'),
    ('Viktor', 'Viktor'), ('Wen', 'Wen'), ('Yara', 'Yara'), ('Zoë', 'Zoe');
CREATE TEMP TABLE last_names (i INTEGER PRIMARY KEY, name TEXT, ascii TEXT);
INSERT INTO last_names (name, ascii) VALUES
    ('Andersson', 'Andersson'), ('Banerjee', 'Banerjee'), ('Costa', 'Costa'), ('Dubois', 'Dubois'),
    ('Eriksen', 'Eriksen'), ('Fischer', 'Fischer'), ('García', 'Garcia'), ('Haddad', 'Haddad'),
    ('Ivanova', 'Ivanova'), ('Jensen', 'Jensen'), ('Kowalski', 'Kowalski'), ('Lopez', 'Lopez'),
    ('Müller', 'Muller'), ('Nakamura', 'Nakamura'), ('Okafor', 'Okafor'), ('Petrov', 'Petrov'),
    ('Quinn', 'Quinn'), ('Rossi', 'Rossi'), ('Silva', 'Silva'), ('Tanaka', 'Tanaka');
CREATE TEMP TABLE cities (i INTEGER PRIMARY KEY, name TEXT);
INSERT INTO cities (name) VALUES
    ('Lisbon'), ('Kraków'), ('Lagos'), ('Osaka'), ('Bogotá'), ('Portland'), ('Edinburgh'),
    ('Uppsala'), ('Cairo'), ('Bologna');

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO customers (id, name, email, city, member, joined)
SELECT n.i,
       f.name || ' ' || l.name,
       lower(f.ascii || '.' || l.ascii) || n.i || '@example.com',
       c.name,
       (n.i * 7) % 3 = 0,
       date('2019-01-01', '+' || ((n.i * 173) % 1800) || ' days')
FROM n
JOIN first_names f ON f.i = 1 + (n.i * 7) % 25
JOIN last_names l ON l.i = 1 + (n.i * 13) % 20
JOIN cities c ON c.i = 1 + (n.i * 3) % 10
ORDER BY n.i;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO orders (id, customer_id, placed_at, status)
SELECT i,
       1 + (i * 7919) % 500,
       datetime('2023-01-01 09:00:00', '+' || (((i * 2654435761) % 63072000) / 60 * 60) || ' seconds'),
       CASE WHEN i > 2950 THEN 'placed'
            WHEN i % 41 = 0 THEN 'returned'
            WHEN i > 2800 THEN 'shipped'
            ELSE 'delivered' END
FROM n ORDER BY i;

-- One to four different books per order.
WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 3)
INSERT INTO order_items (order_id, book_id, quantity, unit_cents)
SELECT o.id,
       b.id,
       1 + ((o.id * 31 + k.j * 17) % 7 = 0),
       CASE WHEN c.member THEN b.price_cents * 9 / 10 ELSE b.price_cents END
FROM orders o
JOIN customers c ON c.id = o.customer_id
JOIN k ON k.j < 1 + (o.id * 5) % 4
JOIN books b ON b.id = 1 + (o.id * 97 + k.j * 61) % 200
ORDER BY o.id, b.id;
