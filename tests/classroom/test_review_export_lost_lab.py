"""A class whose every lab has left the catalog (a lab file removed) gets a clear 404 on its CSV,
not a 500."""

from learnlab.classroom.models import Classroom


def test_the_csv_of_a_class_whose_labs_left_the_catalog_is_a_clear_404(instructor, classroom):
    Classroom.objects.filter(pk=classroom.pk).update(lab="gone-lab", labs=["gone-lab"])
    response = instructor.get(f"/class/teach/{classroom.code}/export.csv")
    assert response.status_code == 404
