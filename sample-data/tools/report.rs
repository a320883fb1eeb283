//! Prints a stock report from a CSV export: `report < stock.csv`.

use std::io::{self, BufRead};

fn main() {
    let mut total_copies = 0u64;
    let mut low = Vec::new();
    for line in io::stdin().lock().lines().map_while(Result::ok).skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(title), Some(stock)) = (fields.get(1), fields.get(4)) else { continue };
        let stock: u64 = stock.trim().parse().unwrap_or(0);
        total_copies += stock;
        if stock <= 3 {
            low.push(title.to_string());
        }
    }
    println!("{total_copies} copies in stock; running low: {}", low.join(", "));
}
