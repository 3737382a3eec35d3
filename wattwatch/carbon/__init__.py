"""Where the carbon figures come from: grid intensity (CodeCarbon's shipped data, hourly CSVs, a number), the data
files themselves and the cloud-region catalog."""
