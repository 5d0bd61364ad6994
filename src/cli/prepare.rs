//! `inctrl prepare`: turns a dataset as distributed into the MVTec AD layout
//! (`<category>/train/good`, `test/good`, `test/<defect>/`) the way InCTRL's
//! `datasets/preprocess/convert_*.py` scripts do: normal images split 75/25
//! into train/test with scikit-learn's `train_test_split(random_state=42)`,
//! every anomaly in test. Where a script lists a folder with `os.listdir`
//! (whose order depends on the file system) we sort, so runs are reproducible.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use inctrl::eval::split::train_test_split;
use inctrl::preprocess::decode_rgb8;
use inctrl::{Error, Result};

/// The split seed of the original scripts.
const SPLIT_SEED: u32 = 42;
/// AITEX defect codes (second field of a file name) and their class folders.
const AITEX_CLASSES: [(&str, &str); 12] = [
    ("002", "Broken_end"),
    ("006", "Broken_yarn"),
    ("010", "Broken_pick"),
    ("016", "Weft_curling"),
    ("019", "Fuzzyball"),
    ("022", "Cut_selvage"),
    ("023", "Crease"),
    ("025", "Warp_ball"),
    ("027", "Knots"),
    ("029", "Contamination"),
    ("030", "Nep"),
    ("036", "Weft_crack"),
];
/// AITEX and SDD tiles are 256 pixels wide.
const TILE: usize = 256;

/// Convert a published dataset into the MVTec AD layout used by `inctrl eval`.
#[derive(Args)]
pub struct PrepareArgs {
    /// Which dataset SRC holds.
    #[arg(value_enum)]
    dataset: Dataset,
    /// The dataset as downloaded (see the README for where each is published).
    src: PathBuf,
    /// Output folder; the category folder is created inside it.
    dst: PathBuf,
}

/// The datasets of the paper that need converting.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Dataset {
    /// ELPV solar cells: `labels.csv` and `images/` (also the `elpv-dataset` PyPI package's `data/`).
    Elpv,
    /// KolektorSDD: `kosNN/PartN.jpg` with `PartN_label.bmp`.
    Sdd,
    /// AITEX fabric: `NODefect_images/`, `Defect_images/Defect_images/`, `Mask_images/Mask_images/`.
    Aitex,
    /// Brain MRI (Kaggle): `no/` and `yes/`.
    Brainmri,
    /// Head CT (Kaggle): `labels.csv` and `head_ct/head_ct/NNN.png`.
    Headct,
    /// VisA: `split_csv/1cls.csv` and the images it lists.
    Visa,
}

/// Runs `inctrl prepare`.
pub fn run(args: PrepareArgs) -> Result<()> {
    let written = match args.dataset {
        Dataset::Elpv => elpv(&args.src, &args.dst.join("elpv"))?,
        Dataset::Sdd => sdd(&args.src, &args.dst.join("SDD"))?,
        Dataset::Aitex => aitex(&args.src, &args.dst.join("AITEX"))?,
        Dataset::Brainmri => brainmri(&args.src, &args.dst.join("brainmri"))?,
        Dataset::Headct => headct(&args.src, &args.dst.join("headct"))?,
        Dataset::Visa => visa(&args.src, &args.dst)?,
    };
    eprintln!("wrote {written} images under {}", args.dst.display());
    Ok(())
}

/// ELPV: probability 0 is normal, 1 is anomalous (folder `mono` or `poly` by cell
/// type); the uncertain 1/3 and 2/3 cells are left out.
fn elpv(src: &Path, out: &Path) -> Result<usize> {
    let labels = read_text(&src.join("labels.csv"))?;
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [path, probability, kind] = fields[..] else {
            return Err(Error::InvalidInput(format!(
                "labels.csv: unexpected line '{line}'"
            )));
        };
        let probability: f64 = probability
            .parse()
            .map_err(|_| Error::InvalidInput(format!("labels.csv: bad probability in '{line}'")))?;
        if probability == 0.0 {
            normal.push(src.join(path));
        } else if probability == 1.0 {
            anomalous.push((src.join(path), kind.to_owned()));
        }
    }
    let mut written = copy_split(&normal, out)?;
    for (path, kind) in &anomalous {
        copy_into(path, &out.join("test").join(kind))?;
        written += 1;
    }
    Ok(written)
}

/// Brain MRI: `no/` normal, `yes/` anomalous, copied unchanged.
fn brainmri(src: &Path, out: &Path) -> Result<usize> {
    let normal = files(&src.join("no"))?;
    let mut written = copy_split(&normal, out)?;
    for path in files(&src.join("yes"))? {
        copy_into(&path, &out.join("test/defect"))?;
        written += 1;
    }
    Ok(written)
}

/// Head CT: `labels.csv` rows `id,label` (header skipped); image `head_ct/head_ct/<id:03>.png`.
fn headct(src: &Path, out: &Path) -> Result<usize> {
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for line in read_text(&src.join("labels.csv"))?
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        let parsed: Option<(u32, u32)> = line
            .split_once(',')
            .and_then(|(id, label)| Some((id.trim().parse().ok()?, label.trim().parse().ok()?)));
        let (id, label) =
            parsed.ok_or_else(|| Error::InvalidInput(format!("labels.csv: bad line '{line}'")))?;
        let path = src.join("head_ct/head_ct").join(format!("{id:03}.png"));
        if label == 0 {
            normal.push(path)
        } else {
            anomalous.push(path)
        }
    }
    let mut written = copy_split(&normal, out)?;
    for path in &anomalous {
        copy_into(path, &out.join("test/defect"))?;
        written += 1;
    }
    Ok(written)
}

/// KolektorSDD: every image is cut into three horizontal bands (thirds of its
/// height); a band is anomalous if its part of `<stem>_label.bmp` has any mark.
fn sdd(src: &Path, out: &Path) -> Result<usize> {
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for dir in folders(src)? {
        let group = file_name(&dir);
        for path in files(&dir)?
            .into_iter()
            .filter(|p| file_name(p).ends_with("jpg"))
        {
            let stem = file_name(&path)
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned();
            let image = Image::read(&path)?;
            let label = Image::read(&dir.join(format!("{stem}_label.bmp")))?;
            if (label.width, label.height) != (image.width, image.height) {
                return Err(Error::InvalidInput(format!(
                    "{}: label size differs from the image",
                    path.display()
                )));
            }
            let h = image.height;
            for (i, rows) in [(0, h / 3), (h / 3, h * 2 / 3), (h * 2 / 3, h)]
                .into_iter()
                .enumerate()
            {
                let band = |img: &Image| img.crop(0, rows.0, img.width, rows.1 - rows.0);
                let name = format!("{group}_{stem}_{i}");
                let mask = band(&label);
                if mask.has_marks() {
                    anomalous.push((name, band(&image), mask));
                } else {
                    normal.push((name, band(&image)));
                }
            }
        }
    }
    write_tiles(out, normal, anomalous, |_| "defect".to_owned())
}

/// AITEX: images cut into 256-pixel-wide tiles; normal images give 16 tiles, a
/// defect image's tiles are kept only where its mask marks the defect.
fn aitex(src: &Path, out: &Path) -> Result<usize> {
    let mut normal = Vec::new();
    for dir in folders(&src.join("NODefect_images"))? {
        for path in files(&dir)? {
            let image = Image::read(&path)?;
            let stem = stem(&path);
            for i in 0..16 {
                let tile = image.crop(i * TILE, 0, TILE, image.height);
                if tile.width > 0 {
                    normal.push((format!("{}_{stem}_{i}", file_name(&dir)), tile));
                }
            }
        }
    }
    let mut anomalous = Vec::new();
    for path in files(&src.join("Defect_images/Defect_images"))? {
        let stem = stem(&path);
        let image = Image::read(&path)?;
        let mask = Image::read(
            &src.join("Mask_images/Mask_images")
                .join(format!("{stem}_mask.png")),
        )?;
        for i in 0..image.width.div_ceil(image.height) {
            let (tile, tile_mask) = (
                image.crop(i * TILE, 0, TILE, image.height),
                mask.crop(i * TILE, 0, TILE, mask.height),
            );
            if tile_mask.has_marks() {
                anomalous.push((format!("{stem}_{i}"), tile, tile_mask));
            }
        }
    }
    write_tiles(out, normal, anomalous, |name| {
        let code = name.split('_').nth(1).unwrap_or_default();
        AITEX_CLASSES
            .iter()
            .find(|(c, _)| *c == code)
            .map_or_else(|| format!("unknown_{code}"), |(_, class)| class.to_string())
    })
}

/// VisA: the official `split_csv/1cls.csv` decides train/test; test masks are
/// binarised (any mark becomes 255).
fn visa(src: &Path, out: &Path) -> Result<usize> {
    let mut written = 0;
    for line in read_text(&src.join("split_csv/1cls.csv"))?
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [object, split, label, image, mask, ..] = fields[..] else {
            return Err(Error::InvalidInput(format!(
                "1cls.csv: unexpected line '{line}'"
            )));
        };
        let kind = if label == "normal" { "good" } else { "defect" };
        copy_into(&src.join(image), &out.join(object).join(split).join(kind))?;
        written += 1;
        if split == "test" && kind == "defect" && !mask.is_empty() {
            let mask_path = src.join(mask);
            let binary = Image::read(&mask_path)?.binarised();
            binary.write_png(
                &out.join(object)
                    .join("ground_truth/defect")
                    .join(file_name(&mask_path)),
            )?;
        }
    }
    Ok(written)
}

/// Splits the normal files 75/25 and copies them to `train/good` and `test/good`.
fn copy_split(normal: &[PathBuf], out: &Path) -> Result<usize> {
    let (train, test) = train_test_split(normal, SPLIT_SEED);
    for path in &train {
        copy_into(path, &out.join("train/good"))?;
    }
    for path in &test {
        copy_into(path, &out.join("test/good"))?;
    }
    Ok(normal.len())
}

/// Writes split normal tiles and anomalous tiles (with their masks) as PNG.
fn write_tiles(
    out: &Path,
    normal: Vec<(String, Image)>,
    anomalous: Vec<(String, Image, Image)>,
    class: impl Fn(&str) -> String,
) -> Result<usize> {
    let (train, test) = train_test_split(&normal, SPLIT_SEED);
    for (folder, tiles) in [("train/good", &train), ("test/good", &test)] {
        for (name, tile) in tiles {
            tile.write_png(&out.join(folder).join(format!("{name}.png")))?;
        }
    }
    for (name, tile, mask) in &anomalous {
        let class = class(name);
        tile.write_png(&out.join("test").join(&class).join(format!("{name}.png")))?;
        mask.write_png(
            &out.join("ground_truth")
                .join(&class)
                .join(format!("{name}_mask.png")),
        )?;
    }
    Ok(normal.len() + anomalous.len())
}

/// An 8-bit RGB image, as OpenCV's `imread` reads it (channel order aside).
#[derive(Clone)]
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Image {
    fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
        let (width, height, rgb) = decode_rgb8(&bytes).map_err(|e| Error::Image {
            name: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            width: width as usize,
            height: height as usize,
            rgb,
        })
    }

    /// The part at `(x, y)` of up to `width × height`, clipped like a numpy slice.
    fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Self {
        let (x_end, y_end) = ((x + width).min(self.width), (y + height).min(self.height));
        let (x, y) = (x.min(x_end), y.min(y_end));
        let mut rgb = Vec::with_capacity((x_end - x) * (y_end - y) * 3);
        for row in y..y_end {
            rgb.extend_from_slice(
                &self.rgb[(row * self.width + x) * 3..(row * self.width + x_end) * 3],
            );
        }
        Self {
            width: x_end - x,
            height: y_end - y,
            rgb,
        }
    }

    fn has_marks(&self) -> bool {
        self.rgb.iter().any(|&v| v != 0)
    }

    fn binarised(mut self) -> Self {
        self.rgb
            .iter_mut()
            .filter(|v| **v != 0)
            .for_each(|v| *v = 255);
        self
    }

    fn write_png(&self, path: &Path) -> Result<()> {
        let folder = path.parent().expect("output paths have a folder");
        std::fs::create_dir_all(folder).map_err(|e| Error::io(folder.display(), e))?;
        let file = std::fs::File::create(path).map_err(|e| Error::io(path.display(), e))?;
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .and_then(|mut writer| writer.write_image_data(&self.rgb))
            .map_err(|e| Error::InvalidInput(format!("writing {}: {e}", path.display())))
    }
}

fn copy_into(path: &Path, folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder.display(), e))?;
    std::fs::copy(path, folder.join(file_name(path))).map_err(|e| Error::io(path.display(), e))?;
    Ok(())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))
}

fn sorted(dir: &Path, keep: fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir.display(), e)))
        .collect::<Result<_>>()?;
    paths.retain(|p| keep(p));
    paths.sort();
    Ok(paths)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    sorted(dir, |p| p.is_file())
}

fn folders(dir: &Path) -> Result<Vec<PathBuf>> {
    sorted(dir, |p| p.is_dir())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The name up to its first dot, as the scripts' `name.split('.')[0]`.
fn stem(path: &Path) -> String {
    file_name(path)
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: usize, height: usize) -> Image {
        Image {
            width,
            height,
            rgb: (0..width * height * 3).map(|i| (i % 251) as u8).collect(),
        }
    }

    #[test]
    fn crops_like_numpy_slices() {
        let img = image(600, 2);
        let last = img.crop(2 * TILE, 0, TILE, 2);
        assert_eq!((last.width, last.height), (600 - 2 * TILE, 2));
        assert_eq!(&last.rgb[..3], &img.rgb[2 * TILE * 3..2 * TILE * 3 + 3]);
        assert_eq!(img.crop(3 * TILE, 0, TILE, 2).width, 0);
    }

    #[test]
    fn elpv_split_and_folders() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("images")).unwrap();
        let mut labels = String::new();
        for (i, (p, kind)) in [(0.0, "mono"); 8]
            .into_iter()
            .chain([(1.0, "mono"), (1.0, "poly"), (0.3333, "poly")])
            .enumerate()
        {
            let name = format!("images/cell{i:04}.png");
            std::fs::write(src.path().join(&name), [i as u8]).unwrap();
            labels += &format!("{name}  {p}   {kind}\n");
        }
        std::fs::write(src.path().join("labels.csv"), labels).unwrap();
        let dst = tempfile::tempdir().unwrap();
        assert_eq!(elpv(src.path(), &dst.path().join("elpv")).unwrap(), 10);
        let count = |f: &str| {
            std::fs::read_dir(dst.path().join("elpv").join(f))
                .unwrap()
                .count()
        };
        assert_eq!(
            (
                count("train/good"),
                count("test/good"),
                count("test/mono"),
                count("test/poly")
            ),
            (6, 2, 1, 1)
        );
        // train_test_split(range(8), test_size=0.25, random_state=42) puts items 1 and 5 in test.
        assert!(dst.path().join("elpv/test/good/cell0001.png").exists());
        assert!(dst.path().join("elpv/test/good/cell0005.png").exists());
    }
}
