"""The edge where raw Kafka messages become canonical `DealEvent`s or rejections."""
