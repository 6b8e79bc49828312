def test_landing_renders(client, catalog):
    page = client.get("/")
    assert page.status_code == 200
    assert "Shop by category" in page.get_data(as_text=True)
