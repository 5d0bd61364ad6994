//! Connected regions of a ground-truth mask, 8-connected as MVTec AD's
//! evaluation labels them (`scipy.ndimage.label` with a 3×3 structure of ones).

/// A mask's regions: per pixel its region (0 outside every region, 1..=n
/// inside), and each region's size in pixels.
pub struct Regions {
    /// `[height, width]` row-major region numbers.
    pub labels: Vec<u32>,
    /// Pixels of region `r + 1` at index `r`.
    pub sizes: Vec<u64>,
}

/// Labels the 8-connected regions of `mask` (row-major, `width` columns),
/// numbered in the order their first pixel comes in a row-major scan.
pub fn label_regions(mask: &[bool], width: usize) -> Regions {
    let height = mask.len().checked_div(width).unwrap_or(0);
    let mut labels = vec![0u32; mask.len()];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        sizes.push(0);
        let label = sizes.len() as u32;
        labels[start] = label;
        stack.push(start);
        while let Some(at) = stack.pop() {
            sizes[label as usize - 1] += 1;
            let (x, y) = (at % width, at / width);
            for ny in y.saturating_sub(1)..(y + 2).min(height) {
                for nx in x.saturating_sub(1)..(x + 2).min(width) {
                    let next = ny * width + nx;
                    if mask[next] && labels[next] == 0 {
                        labels[next] = label;
                        stack.push(next);
                    }
                }
            }
        }
    }
    Regions { labels, sizes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_neighbours_join_and_gaps_split() {
        let picture = [
            "##...#", //
            "..#..#", //
            "......", //
            "#...##", //
        ];
        let mask: Vec<bool> = picture
            .iter()
            .flat_map(|r| r.chars().map(|c| c == '#'))
            .collect();
        let regions = label_regions(&mask, 6);
        assert_eq!(regions.sizes, [3, 2, 1, 2]);
        let row = |r: usize| regions.labels[r * 6..(r + 1) * 6].to_vec();
        assert_eq!(row(0), [1, 1, 0, 0, 0, 2]);
        assert_eq!(row(1), [0, 0, 1, 0, 0, 2]);
        assert_eq!(row(3), [3, 0, 0, 0, 4, 4]);
    }
}
