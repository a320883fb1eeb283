// Storefront: shows the titles that are running low.
const shelf = document.getElementById("shelf");

async function loadLowStock() {
  const response = await fetch("/api/low-stock");
  if (!response.ok) {
    shelf.textContent = "Could not load the shelf.";
    return;
  }
  const titles = await response.json();
  shelf.replaceChildren(...titles.map((title) => {
    const item = document.createElement("p");
    item.textContent = `Only a few left: ${title}`;
    return item;
  }));
}

loadLowStock();
